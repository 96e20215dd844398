package dev.underpass.e2e;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real external server (sshd, git daemon) started as a child process on a loopback port. Its
 * output goes to a log file; {@link #close()} stops it by its own handle.
 */
final class ServerProcess implements AutoCloseable {
    static final Duration LISTEN_WAIT = Duration.ofSeconds(30);

    private final String name;
    private final Process process;
    private final Path log;
    private final int port;

    private ServerProcess(String name, Process process, Path log, int port) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.port = port;
    }

    /** A loopback port that was free a moment ago (another process may take it before we do). */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts {@code command} in {@code workDir} and waits until it accepts connections on 127.0.0.1:{@code port}. */
    static ServerProcess start(String name, Path workDir, int port, String... command) throws Exception {
        Path log = workDir.resolve(name + ".log");
        Process p = new ProcessBuilder(List.of(command))
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        ServerProcess server = new ServerProcess(name, p, log, port);
        try {
            server.awaitListening();
        } catch (Exception | AssertionError e) {
            server.close();
            throw e;
        }
        return server;
    }

    /**
     * Starts {@code command} in {@code workDir} and waits until its log has a line matching
     * {@code readyRegex}: for a server the test cannot dial itself, such as one in another network
     * namespace ({@code ip netns exec NS ...}). {@link #address()} is meaningless for it.
     */
    static ServerProcess startLogged(String name, Path workDir, String readyRegex, String... command) throws Exception {
        Path log = workDir.resolve(name + ".log");
        Process p = new ProcessBuilder(List.of(command))
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        ServerProcess server = new ServerProcess(name, p, log, -1);
        try {
            java.util.regex.Pattern ready = java.util.regex.Pattern.compile(readyRegex);
            long deadline = System.nanoTime() + LISTEN_WAIT.toNanos();
            while (!ready.matcher(server.output()).find()) {
                if (!p.isAlive()) {
                    throw new AssertionError(name + " exited with " + p.exitValue() + " before logging /" + readyRegex
                            + "/; log:\n" + server.output());
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError(name + " did not log /" + readyRegex + "/ within "
                            + LISTEN_WAIT.toSeconds() + "s; log:\n" + server.output());
                }
                Thread.sleep(50);
            }
        } catch (Exception | AssertionError e) {
            server.close();
            throw e;
        }
        return server;
    }

    private void awaitListening() throws InterruptedException {
        long deadline = System.nanoTime() + LISTEN_WAIT.toNanos();
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException e) {
                if (!process.isAlive()) {
                    throw new AssertionError(name + " exited with " + process.exitValue() + " before listening on port "
                            + port + "; log:\n" + output());
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError(name + " did not accept connections on port " + port + " within "
                            + LISTEN_WAIT.toSeconds() + "s (" + e.getMessage() + "); log:\n" + output());
                }
            }
            Thread.sleep(50);
        }
    }

    String name() {
        return name;
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
