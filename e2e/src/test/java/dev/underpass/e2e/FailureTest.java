package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.testkit.DataStream;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.SourceServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real faults: the agent killed mid-transfer, the gateway restarted, targets that refuse or are
 * not allowed. A consumer must see a failure as a failure (a reset), never as a short success.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FailureTest {
    @TempDir
    Path dir;

    @Test
    void killingTheAgentMidTransferResetsTheConsumerAndARestartedAgentServesAgain() throws Exception {
        try (SourceServer source = new SourceServer();
                Tunnel t = Tunnel.start(dir, Map.of("source", source.address()))) {
            int port = t.endpointPort("source");
            try (Socket s = Clients.connect(port)) {
                Clients.request(s, 8L << 30, 1);
                InputStream in = s.getInputStream();
                byte[] buf = new byte[64 * 1024];
                long got = 0;
                while (got < (32L << 20)) { // the transfer is under way
                    int n = in.read(buf);
                    assertThat(n).isPositive();
                    got += n;
                }
                t.agent().kill();
                // The rest of the stream must fail loudly: a reset, never a clean end of stream.
                assertThatThrownBy(() -> {
                            while (in.read(buf) != -1) {
                                // drain what was in flight before the kill
                            }
                        })
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("reset");
            }
            t.gateway()
                    .awaitLog(
                            "connection \\d+ endpoint=" + t.endpointId("source") + " .* closed: STREAM_RESET",
                            Tunnel.WAIT);
            t.startAgent();
            Clients.Download d = Clients.download(port, 1 << 20, 2);
            assertThat(d.sha256()).isEqualTo(DataStream.sha256(2, 1 << 20, Clients.CHUNK));
        }
    }

    @Test
    void theAgentReconnectsByItselfWhenTheGatewayRestarts() throws Exception {
        try (EchoServer echo = new EchoServer();
                Tunnel t = Tunnel.start(dir, Map.of("echo", echo.address()))) {
            assertThat(Clients.echo(t.endpointPort("echo"), "before".getBytes()))
                    .isEqualTo("before".getBytes());
            t.restartGateway();
            t.gateway().awaitLog("advertised", Tunnel.WAIT);
            t.agent().awaitLog("reconnecting in", Tunnel.WAIT);
            assertThat(Clients.echo(t.endpointPort("echo"), "after".getBytes())).isEqualTo("after".getBytes());
            assertThat(t.agent().isAlive()).isTrue();
        }
    }

    @Test
    void aRefusingTargetClosesTheConsumerPromptlyWithTheReasonLogged() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort(); // nothing listens here once closed
        }
        try (Tunnel t = Tunnel.start(dir, Map.of("down", "127.0.0.1:" + closedPort))) {
            long start = System.nanoTime();
            try (Socket s = Clients.connect(t.endpointPort("down"))) {
                s.getOutputStream().write('x');
                assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(IOException.class);
            }
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
            t.gateway()
                    .awaitLog(
                            "endpoint=" + t.endpointId("down")
                                    + " .* failed: agent could not reach the target: REFUSED",
                            Tunnel.WAIT);
            t.agent().awaitLog("connection \\d+ refused: REFUSED", Tunnel.WAIT);

            // The connection test names the failing hop: the TCP connection through the endpoint.
            Path key = dir.resolve("platform.key");
            Files.writeString(key, t.platformKey() + "\n");
            Cli cli = new Cli(dir, "platform");
            cli.run(
                            "login",
                            "--gateway",
                            "https://localhost:" + t.apiPort(),
                            "--ca-file",
                            t.caFile().toString(),
                            "--key-file",
                            key.toString())
                    .ok("login");
            Cli.Result test = cli.run("test", t.endpointId("down"));
            assertThat(test.exitCode()).as(test.out() + test.err()).isEqualTo(1);
            assertThat(test.out()).containsPattern("agents +pass").containsPattern("tcp +FAIL");
        }
    }

    @Test
    void aTargetTheAgentDoesNotAllowIsNeverRequested() throws Exception {
        try (EchoServer echo = new EchoServer();
                EchoServer other = new EchoServer();
                Tunnel t = Tunnel.start(
                        dir, Map.of("echo", echo.address(), "other", other.address()), List.of(echo.address()))) {
            // The gateway resets the connection at once: the reset may even reach connect() itself.
            assertThatThrownBy(() -> {
                        try (Socket s = Clients.connect(t.endpointPort("other"))) {
                            s.getInputStream().read();
                        }
                    })
                    .isInstanceOf(IOException.class);
            t.gateway()
                    .awaitLog(
                            "endpoint=" + t.endpointId("other")
                                    + " .* refused: no agent of account acme is connected and advertises",
                            Tunnel.WAIT);
            assertThat(other.accepted()).isZero();
            assertThat(Clients.echo(t.endpointPort("echo"), "ok".getBytes())).isEqualTo("ok".getBytes());
        }
    }
}
