package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.underpass.agent.config.AgentConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
    @TempDir
    Path dir;

    /** What a run printed, and its exit code. */
    record Run(int code, String out, String err) {}

    /** Runs with stdout and stderr captured; tests in this class run one at a time. */
    private static Run run(IntSupplier main) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = main.getAsInt();
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
    }

    @Test
    void agentWithoutGatewayOrTokenExitsWith2AndSaysWhy() {
        assumeTrue(System.getenv(AgentConfig.TOKEN_ENV) == null, AgentConfig.TOKEN_ENV + " is set in this environment");
        Run r = run(() -> Main.run("agent"));
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err())
                .contains("gateway: missing")
                .contains("token: missing")
                .contains("targets: []");
    }

    @Test
    void agentWithAnUnknownFlagIsAUsageError() {
        Run r = run(() -> Main.run("agent", "--gateway", "gw:8443", "--no-such-flag"));
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--no-such-flag");
    }

    @Test
    void gatewayWithAMissingConfigFileExitsWith2AndStartsNothing() {
        Path missing = dir.resolve("no-such-gateway.yaml");
        Path data = dir.resolve("data");
        Run r = run(() -> Main.run("gateway", "--config", missing.toString(), "--data-dir", data.toString()));
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--config").contains(missing.toString());
        assertThat(data).as("no state or certificates created").doesNotExist();
    }

    @Test
    void gatewayWithAnInvalidConfigExitsWith2NamingTheField() throws Exception {
        Path config = dir.resolve("gateway.yaml");
        Files.writeString(config, "agentListen: 127.0.0.1:0\nheartbeatTimeoutSeconds: 1\n");
        Path data = dir.resolve("data");
        Run r = run(() -> Main.run("gateway", "--config", config.toString(), "--data-dir", data.toString()));
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("heartbeatTimeoutSeconds: 1");
        assertThat(data).as("no state or certificates created").doesNotExist();
    }
}
