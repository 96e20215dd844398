package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** What the gateway refuses exits 1 with its detail on stderr; what the CLI cannot even send exits 2. */
class RefusalsTest extends OperatorCliTest {

    @Test
    void aViewerCannotCreateAService() throws Exception {
        assertThat(operator.run("user", "create", "vera", "--role", "viewer").code())
                .isZero();
        Path keyFile = dir.resolve("vera.key");
        assertThat(operator.run("key", "create", "laptop", "--user", "vera", "--out", keyFile.toString())
                        .code())
                .isZero();
        Cli vera =
                Cli.loggedIn(api, dir.resolve("vera"), Files.readString(keyFile).strip());

        Cli.Run r = vera.run("service", "create", "web", "--listener", "80=web.internal:80");

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.out()).isEmpty();
        assertThat(r.err())
                .containsPattern("underpass: this operation needs scope services:write, which key key-\\w+ of vera "
                        + "\\(role viewer in account operator\\) does not have \\(HTTP 403 Forbidden\\)");
        assertThat(vera.run("service", "list").code()).isZero();
    }

    @Test
    void invalidListenersAreRefusedWithEveryFieldNamed() {
        Cli.Run r = operator.run(
                "service", "create", "web", "--listener", "70000=web.internal:80", "--listener", "22=nohost");

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err())
                .contains(
                        "underpass: the request has 2 invalid field(s)",
                        "(HTTP 400 Bad Request)",
                        "\n  - listeners[0].port: 70000 (expected: 1-65535)",
                        "\n  - listeners[1].targets[0]: 'nohost' (expected: host:port as the agent reaches it)");
        assertThat(operator.run("service", "list", "-o", "json").out()).doesNotContain("\"web\"");
    }

    @Test
    void aListenerThatIsNotPortEqualsTargetsIsAUsageError() {
        Cli.Run r = operator.run("service", "create", "web", "--listener", "web.internal:80");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--listener", "expected: PORT=HOST:PORT");
    }

    @Test
    void decidingAnUnknownEndpointIsA404() {
        Cli.Run r = operator.run("endpoint", "accept", "ep-0000000000000000");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err())
                .contains("underpass: endpoint ep-0000000000000000 does not exist in your account (HTTP 404");
    }

    @Test
    void anUnknownRoleIsNamed() {
        Cli.Run r = operator.run("user", "create", "max", "--role", "superuser");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("superuser", "owner, admin, member, viewer");
    }

    @Test
    void aGatewayThatDoesNotAnswerIsAFailureNamingTheAddress() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Path keyFile = dir.resolve("k");
        Files.writeString(keyFile, api.operatorKey);
        Cli.Run r = new Cli(dir.resolve("nowhere"))
                .run("login", "--gateway", "https://127.0.0.1:" + closed, "--key-file", keyFile.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err())
                .contains("https://127.0.0.1:" + closed, "no answer", "ConnectException")
                .doesNotContain(api.operatorKey);
    }

    @Test
    void withoutALoginCommandsSayHowToLogIn() {
        Cli.Run r = new Cli(dir.resolve("fresh")).run("service", "list");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("not logged in", "underpass login --gateway", "UNDERPASS_API_KEY");
    }
}
