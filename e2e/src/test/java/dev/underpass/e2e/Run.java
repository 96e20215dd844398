package dev.underpass.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs an external command with a deadline; returns exit code and combined output. */
record Run(int exitCode, String output) {
    static Run of(Path workDir, Map<String, String> env, long timeoutSeconds, String... command)
            throws IOException, InterruptedException {
        Path out = Files.createTempFile(workDir, "run-", ".out");
        ProcessBuilder pb = new ProcessBuilder(List.of(command))
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError(String.join(" ", command) + " did not finish within " + timeoutSeconds
                    + "s; output:\n" + Files.readString(out, StandardCharsets.UTF_8));
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
    }

    Run assertOk(String what) {
        if (exitCode != 0) {
            throw new AssertionError(what + " exited with " + exitCode + "; output:\n" + output);
        }
        return this;
    }
}
