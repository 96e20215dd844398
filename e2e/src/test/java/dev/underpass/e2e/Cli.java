package dev.underpass.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.underpass.testkit.UnderpassProcess;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The {@code underpass} command as a user runs it, one process per command, logged in as one
 * principal through its own configuration directory.
 */
final class Cli {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final long TIMEOUT_SECONDS = 60;

    /** What a command did: its exit code and what it wrote where. */
    record Result(int exitCode, String out, String err) {
        Result ok(String what) {
            if (exitCode != 0) {
                throw new AssertionError(what + " exited with " + exitCode + "\nstdout:\n" + out + "\nstderr:\n" + err);
            }
            return this;
        }

        JsonNode json() {
            try {
                return JSON.readTree(out);
            } catch (java.io.IOException e) {
                throw new AssertionError("not JSON: " + out, e);
            }
        }
    }

    private final Path configDir;
    private final Path workDir;

    Cli(Path workDir, String principal) throws java.io.IOException {
        this.workDir = workDir;
        this.configDir = Files.createDirectories(workDir.resolve("cli-" + principal));
    }

    Result run(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty(UnderpassProcess.ROOT_PROPERTY), "underpass")
                .toString());
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(workDir, "cli-", ".out");
        Path err = Files.createTempFile(workDir, "cli-", ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(workDir.toFile())
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("UNDERPASS_SKIP_BUILD", "1");
        pb.environment().put("UNDERPASS_CONFIG_DIR", configDir.toString());
        pb.environment().remove("UNDERPASS_API_KEY");
        pb.environment().remove("UNDERPASS_GATEWAY");
        pb.environment().remove("UNDERPASS_LOGIN_TOKEN_FILE"); // would replace the stored login (OIDC login)
        pb.environment().remove("UNDERPASS_ACCOUNT");
        Process p = pb.start();
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError(String.join(" ", args) + " did not finish within " + TIMEOUT_SECONDS + "s");
        }
        return new Result(
                p.exitValue(),
                Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    /** {@code args} with {@code --output json}, which must succeed; its JSON. */
    JsonNode json(String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--output");
        all.add("json");
        return run(all.toArray(String[]::new)).ok(String.join(" ", args)).json();
    }
}
