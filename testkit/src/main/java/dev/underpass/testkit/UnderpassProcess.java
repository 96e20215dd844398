package dev.underpass.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code underpass} process (gateway or agent), started with the repository's
 * {@code ./underpass} launcher exactly as users run it: its JVM defaults, the packaged jar. The
 * build that runs the tests has just made the jar, so the launcher is told not to build.
 * Output goes to a log file the test can wait on; the test stops the process by its own handle
 * ({@link #close()}, {@link #kill()}).
 */
public final class UnderpassProcess implements AutoCloseable {
    public static final Duration DEFAULT_WAIT = Duration.ofSeconds(60);
    /** System property naming the repository root (set by the e2e module's Surefire configuration). */
    public static final String ROOT_PROPERTY = "underpass.root";

    private final Process process;
    private final Path log;
    private final String name;

    private UnderpassProcess(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    /** Starts {@code underpass args...}; {@code env} adds environment variables. */
    public static UnderpassProcess start(String name, Path logDir, Map<String, String> env, String... args)
            throws IOException {
        return start(name, logDir, null, List.of(), env, args);
    }

    /**
     * Starts {@code commandPrefix... underpass args...} in {@code workDir} (null: the test's own),
     * as on another host: with the prefix {@code ip netns exec NS}, which execs its command, the
     * launcher runs in network namespace NS and this handle is still the launcher's process.
     */
    public static UnderpassProcess start(
            String name, Path logDir, Path workDir, List<String> commandPrefix, Map<String, String> env, String... args)
            throws IOException {
        Files.createDirectories(logDir);
        Path log = logDir.resolve(name + ".log");
        String root = System.getProperty(ROOT_PROPERTY);
        if (root == null) {
            throw new IllegalStateException(
                    ROOT_PROPERTY + " is not set (expected: the repository root, where ./underpass is)");
        }
        List<String> cmd = new ArrayList<>(commandPrefix);
        cmd.add(Path.of(root, "underpass").toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        if (workDir != null) {
            pb.directory(workDir.toFile());
        }
        pb.environment().remove("HTTPS_PROXY");
        pb.environment().remove("https_proxy");
        pb.environment().put("UNDERPASS_SKIP_BUILD", "1");
        pb.environment().putAll(env);
        return new UnderpassProcess(name, pb.start(), log);
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public Path logFile() {
        return log;
    }

    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** Waits until the log has a line matching {@code regex}; returns the match. */
    public Matcher awaitLog(String regex, Duration timeout) throws InterruptedException {
        return awaitLog(regex, 1, timeout);
    }

    /** Waits until the log has at least {@code count} lines matching {@code regex}; returns the last. */
    public Matcher awaitLog(String regex, int count, Duration timeout) throws InterruptedException {
        Pattern p = Pattern.compile(regex);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Matcher last = null;
            int seen = 0;
            for (String line : output().split("\n")) {
                Matcher m = p.matcher(line);
                if (m.find()) {
                    seen++;
                    last = m;
                }
            }
            if (seen >= count) {
                return last;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(name + ": no " + (count > 1 ? count + " lines" : "line") + " matching /"
                        + regex + "/ within " + timeout.toSeconds() + "s; log:\n" + output());
            }
            if (!process.isAlive()) {
                throw new AssertionError(name + " exited with " + process.exitValue() + " before logging /" + regex
                        + "/; log:\n" + output());
            }
            Thread.sleep(50);
        }
    }

    /** SIGTERM, without waiting: the process drains and exits by itself ({@link #awaitExit}). */
    public void terminate() {
        process.destroy();
    }

    /** Waits up to {@code timeout} for the process to exit; true if it has. */
    public boolean awaitExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The exit code of a process that has exited. */
    public int exitValue() {
        return process.exitValue();
    }

    /** kill -9: no shutdown hook, no goodbye to the peer. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM, then waits for the process to exit (SIGKILL after 30 s). */
    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }
}
