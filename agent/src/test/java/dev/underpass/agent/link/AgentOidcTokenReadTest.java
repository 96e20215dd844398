package dev.underpass.agent.link;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.underpass.agent.Agent;
import dev.underpass.agent.config.AgentConfig;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent reads its OIDC token file before every connect, off its event loop: with the file a
 * FIFO (a read that blocks, as on a stalled network file system) the agent connects once per
 * token written, and stopping it while a read is blocked still completes.
 */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class AgentOidcTokenReadTest {
    static final Duration WAIT = Duration.ofSeconds(15);

    @TempDir
    Path dir;

    ServerSocket gateway;
    Path fifo;
    final AtomicInteger connections = new AtomicInteger();

    @AfterEach
    void stop() throws Exception {
        if (gateway != null) {
            gateway.close();
        }
        if (fifo != null) {
            write("eyJ.unblock.sig"); // frees a reader still blocked on the FIFO, if any
        }
    }

    /**
     * Writes one token into the FIFO in the background (opening it blocks until a reader opens it).
     * Without CREATE: once the temporary directory is being deleted, a late write must not create a
     * plain file in it (the deletion then fails on a directory that is not empty).
     */
    private void write(String jwt) {
        Thread.ofPlatform().daemon().start(() -> {
            try {
                Files.writeString(fifo, jwt + "\n", StandardCharsets.UTF_8, StandardOpenOption.WRITE);
            } catch (IOException e) {
                // the test is over and nobody reads it
            }
        });
    }

    private static boolean waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long until = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    @Test
    void theTokenFileIsReadBeforeEveryConnectWithoutBlockingTheEventLoop() throws Exception {
        fifo = dir.resolve("token");
        Process mkfifo;
        try {
            mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
        } catch (IOException e) {
            mkfifo = null;
        }
        assumeTrue(
                mkfifo != null && mkfifo.waitFor(10, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo available");

        // A stand-in gateway that counts connections and closes them: every link fails, so the agent reconnects.
        gateway = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().start(() -> {
            while (!gateway.isClosed()) {
                try (Socket s = gateway.accept()) {
                    connections.incrementAndGet();
                } catch (IOException e) {
                    // closed
                }
            }
        });
        InetSocketAddress at = (InetSocketAddress) gateway.getLocalSocketAddress();
        AgentConfig config = new AgentConfig(
                "127.0.0.1:" + at.getPort(),
                "fifo-agent",
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                List.of("db.internal:5432"),
                null,
                null,
                null,
                null,
                "wid-0123456789abcdef",
                fifo.toString(),
                null,
                null);
        Agent agent = new Agent(config);
        agent.start();

        Thread.sleep(300);
        assertThat(connections.get())
                .as("no connect before a token is readable")
                .isZero();
        write("eyJ.first.sig");
        assertThat(waitFor(() -> connections.get() == 1))
                .as("connected with the first token")
                .isTrue();
        Thread.sleep(Backoff.DEFAULT_INITIAL.toMillis() * 2);
        assertThat(connections.get())
                .as("the reconnect waits for the file to be read again")
                .isEqualTo(1);
        write("eyJ.second.sig");
        assertThat(waitFor(() -> connections.get() == 2))
                .as("connected again after the second token")
                .isTrue();

        // After the second backoff (at most twice the initial delay) the third read is blocked; stopping needs the
        // event loop, which must be free.
        Thread.sleep(Backoff.DEFAULT_INITIAL.toMillis() * 4);
        Thread closing = Thread.ofPlatform().daemon().start(agent::close);
        closing.join(WAIT.toMillis());
        assertThat(closing.isAlive())
                .as("close() stalled: the event loop is blocked reading the token file")
                .isFalse();
    }
}
