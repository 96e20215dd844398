package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.testkit.EchoServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateway's abuse limits with real processes: a consumer account holds at most
 * {@code limits.connectionsPerConsumer} live connections through the proxy and as many through
 * endpoint ports and the TLS listener, and
 * an agent link at most {@code limits.streamsPerAgent} streams; past them connections are refused
 * clearly, the gateway carries on, and room made is room taken again.
 */
@Timeout(value = 3, unit = java.util.concurrent.TimeUnit.MINUTES)
class AbuseLimitsTest {
    static final Duration WAIT = Tunnel.WAIT;

    @TempDir
    Path dir;

    EchoServer echo;
    Tunnel tunnel;
    final List<Socket> held = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (Socket s : held) {
            s.close();
        }
        if (tunnel != null) {
            tunnel.close();
        }
        if (echo != null) {
            echo.close();
        }
    }

    private void start(String limits) throws Exception {
        echo = new EchoServer();
        tunnel = Tunnel.start(dir, Map.of("echo", echo.address()), List.of(echo.address()), "limits:\n" + limits);
    }

    @Test
    void aConsumerAccountPastItsConnectionLimitIsRefusedOnEachEntranceUntilOneEnds() throws Exception {
        start("  connectionsPerConsumer: 3\n");
        int port = tunnel.endpointPort("echo");
        for (int i = 0; i < 3; i++) {
            held.add(echoed(port, "held " + i));
        }
        assertThat(refusedOnEndpointPort(port))
                .as("a fourth connection on the endpoint port")
                .isTrue();
        tunnel.gateway()
                .awaitLog(
                        "refused: account platform holds 3 live connections through endpoint ports and the TLS "
                                + "listener, its limit",
                        WAIT);

        // The proxy, which authenticates, has a budget of its own: whoever reaches an endpoint port cannot spend it.
        String name = tunnel.endpointDnsName("echo") + ":" + Tunnel.servicePort("echo");
        for (int i = 0; i < 3; i++) {
            held.add(proxyTunnel(name, "proxied " + i));
        }
        assertThat(proxyConnect(name))
                .startsWith("HTTP/1.1 429")
                .contains("account platform already holds 3 live connections through the forward proxy, its limit");
        assertThat(socksConnect(name))
                .as("SOCKS5: connection not allowed by ruleset")
                .isEqualTo(2);
        tunnel.gateway().awaitLog("refused: account platform holds 3 live connections through the forward proxy", WAIT);

        held.removeFirst().close(); // one of the endpoint port's
        Socket again = null;
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (again == null && System.nanoTime() < deadline) { // the gateway sees the close a moment later
            try {
                again = echoed(port, "after one ended");
            } catch (IOException stillFull) {
                Thread.sleep(50);
            }
        }
        assertThat(again).as("a connection once one has ended").isNotNull();
        held.add(again);
    }

    /** A tunnel through the proxy to {@code destination} that has carried {@code text} there and back. */
    private Socket proxyTunnel(String destination, String text) throws IOException {
        Socket s = new Socket("127.0.0.1", tunnel.proxyPort());
        try {
            s.setSoTimeout((int) WAIT.toMillis());
            String auth =
                    Base64.getEncoder().encodeToString(("ci:" + tunnel.platformKey()).getBytes(StandardCharsets.UTF_8));
            s.getOutputStream()
                    .write(("CONNECT " + destination + " HTTP/1.1\r\nProxy-Authorization: Basic " + auth + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            String established = "HTTP/1.1 200 Connection established\r\n\r\n";
            String head = new String(s.getInputStream().readNBytes(established.length()), StandardCharsets.US_ASCII);
            assertThat(head).isEqualTo(established);
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            s.getOutputStream().write(b);
            assertThat(s.getInputStream().readNBytes(b.length)).isEqualTo(b);
            return s;
        } catch (IOException | AssertionError e) {
            s.close();
            throw e;
        }
    }

    @Test
    void anAgentLinkCarriesAtMostItsStreamLimitAndRecoversWhenTheyEnd() throws Exception {
        start("  streamsPerAgent: 16\n");
        int port = tunnel.endpointPort("echo");
        int carried = 0;
        int refused = 0;
        for (int i = 0; i < 24; i++) { // the session stream and the standby streams take some of the 16
            try {
                held.add(echoed(port, "stream " + i));
                carried++;
            } catch (IOException e) {
                refused++;
            }
        }
        assertThat(carried).as("connections carried at once").isBetween(1, 15);
        assertThat(refused).isEqualTo(24 - carried);
        for (Socket s : held) {
            s.close();
        }
        held.clear();
        Socket again = null;
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (again == null && System.nanoTime() < deadline) {
            try {
                again = echoed(port, "after they ended");
            } catch (IOException streamsStillClosing) {
                Thread.sleep(100);
            }
        }
        assertThat(again)
                .as("the link carries new connections once streams ended")
                .isNotNull();
        held.add(again);
    }

    /** A connection through the endpoint port that has carried {@code text} there and back. */
    private static Socket echoed(int port, String text) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        try {
            s.setSoTimeout((int) WAIT.toMillis());
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            s.getOutputStream().write(b);
            byte[] back = s.getInputStream().readNBytes(b.length);
            if (back.length != b.length) {
                throw new IOException("ended after " + back.length + " of " + b.length + " bytes");
            }
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    private static boolean refusedOnEndpointPort(int port) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout((int) WAIT.toMillis());
            s.getOutputStream().write('x');
            return s.getInputStream().read() == -1;
        } catch (SocketException reset) {
            return true;
        }
    }

    private String proxyConnect(String destination) throws IOException {
        try (Socket s = new Socket("127.0.0.1", tunnel.proxyPort())) {
            s.setSoTimeout((int) WAIT.toMillis());
            String auth =
                    Base64.getEncoder().encodeToString(("ci:" + tunnel.platformKey()).getBytes(StandardCharsets.UTF_8));
            s.getOutputStream()
                    .write(("CONNECT " + destination + " HTTP/1.1\r\nProxy-Authorization: Basic " + auth + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The SOCKS5 reply code for a CONNECT to {@code destination} (host:port) with platform's key. */
    private int socksConnect(String destination) throws IOException {
        int colon = destination.lastIndexOf(':');
        byte[] host = destination.substring(0, colon).getBytes(StandardCharsets.US_ASCII);
        int port = Integer.parseInt(destination.substring(colon + 1));
        byte[] user = "ci".getBytes(StandardCharsets.US_ASCII);
        byte[] password = tunnel.platformKey().getBytes(StandardCharsets.US_ASCII);
        try (Socket s = new Socket("127.0.0.1", tunnel.proxyPort())) {
            s.setSoTimeout((int) WAIT.toMillis());
            var out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(new byte[] {5, 1, 2});
            assertThat(in.readNBytes(2)).containsExactly(5, 2);
            var auth = new java.io.ByteArrayOutputStream();
            auth.write(new byte[] {1, (byte) user.length});
            auth.write(user);
            auth.write(password.length);
            auth.write(password);
            out.write(auth.toByteArray());
            assertThat(in.readNBytes(2)).containsExactly(1, 0);
            var command = new java.io.ByteArrayOutputStream();
            command.write(new byte[] {5, 1, 0, 3, (byte) host.length});
            command.write(host);
            command.write(new byte[] {(byte) (port >> 8), (byte) port});
            out.write(command.toByteArray());
            byte[] reply = in.readNBytes(2);
            return reply.length == 2 ? reply[1] : -1;
        }
    }
}
