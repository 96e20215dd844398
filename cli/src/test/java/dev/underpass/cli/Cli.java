package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.testkit.ApiContract;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Runs {@link Main} in-process as one user of the CLI: its own configuration directory (through
 * the {@code underpass.config.dir} property), stdout and stderr captured. Tests run one at a time.
 * Every exchange of the CLI with the API is checked against the API's OpenAPI document ({@link
 * ApiContract}); a run that made one outside it fails, whatever the CLI made of the error.
 */
final class Cli {
    private static final List<AssertionError> CONTRACT_VIOLATIONS = new CopyOnWriteArrayList<>();

    static {
        ApiClient.httpClients = http -> ApiContract.checking(http, CONTRACT_VIOLATIONS::add);
    }

    /** What a run printed, and its exit code. */
    record Run(int code, String out, String err) {
        /** Both streams, for checking that a secret appears in neither. */
        String all() {
            return out + err;
        }
    }

    final Path configDir;

    Cli(Path configDir) {
        this.configDir = configDir;
    }

    /** A CLI logged in to {@code api} with {@code key}, its configuration under {@code dir}. */
    static Cli loggedIn(ApiFixture api, Path dir, String key) throws Exception {
        Files.createDirectories(dir);
        Path keyFile = dir.resolve("login.key");
        Files.writeString(keyFile, key + "\n");
        Cli cli = new Cli(dir.resolve("config"));
        Run r = cli.run(
                "login",
                "--gateway",
                api.gateway,
                "--ca-file",
                api.caFile.toString(),
                "--key-file",
                keyFile.toString());
        assertThat(r.code()).as(r.err()).isZero();
        return cli;
    }

    Run run(String... args) {
        return runWithStdin("", args);
    }

    Run runWithStdin(String stdin, String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        InputStream in = System.in;
        String dirBefore = System.getProperty(CliConfig.DIR_PROPERTY);
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        System.setProperty(CliConfig.DIR_PROPERTY, configDir.toString());
        int code;
        List<AssertionError> violations;
        try {
            code = Main.run(args);
        } finally {
            // Taken whether or not the run threw (a violation thrown through Main is already the test's failure).
            violations = List.copyOf(CONTRACT_VIOLATIONS);
            CONTRACT_VIOLATIONS.clear();
            System.setOut(out);
            System.setErr(err);
            System.setIn(in);
            if (dirBefore == null) {
                System.clearProperty(CliConfig.DIR_PROPERTY);
            } else {
                System.setProperty(CliConfig.DIR_PROPERTY, dirBefore);
            }
        }
        Run run = new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        if (!violations.isEmpty()) {
            AssertionError failure = new AssertionError(
                    "underpass " + String.join(" ", args) + ": an exchange outside the API's contract (exit code "
                            + code + ", stderr: " + run.err() + ")",
                    violations.getFirst());
            violations.stream().skip(1).forEach(failure::addSuppressed);
            throw failure;
        }
        return run;
    }
}
