package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Runs {@link Main} in-process as one user of the CLI: its own configuration directory (through
 * the {@code underpass.config.dir} property), stdout and stderr captured. Tests run one at a time.
 */
final class Cli {
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
        try {
            code = Main.run(args);
        } finally {
            System.setOut(out);
            System.setErr(err);
            System.setIn(in);
            if (dirBefore == null) {
                System.clearProperty(CliConfig.DIR_PROPERTY);
            } else {
                System.setProperty(CliConfig.DIR_PROPERTY, dirBefore);
            }
        }
        return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
    }
}
