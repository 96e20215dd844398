package dev.underpass.agent.health;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.protocol.HostAndPort;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Health probes go where connections may go, and no further: no rebound names, no redirects followed. */
@Timeout(60)
class HealthProbeTest {
    @Test
    void aProbeOfANameLeadingToTheAgentHostIsNotAllowedAndDialsNothing() throws Exception {
        try (ServerSocket listening = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            HealthProbe.Result r = HealthProbe.run(
                    "tcp",
                    HostAndPort.parse("rebound.underpass.test:" + listening.getLocalPort()),
                    "/",
                    StatusMatcher.parse("200-399"),
                    2000,
                    HealthCheckerTest.ADDRESSES);
            assertThat(r.passed()).isFalse();
            assertThat(r.reason()).startsWith("NOT_ALLOWED: ").contains("resolved to [127.0.0.1]");
        }
    }

    @Test
    void aRedirectIsJudgedByItsStatusAndNeverFollowed() throws Exception {
        AtomicInteger elsewhere = new AtomicInteger();
        try (ServerSocket other = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
                ServerSocket target = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> count(other, elsewhere));
            Thread.ofVirtual().start(() -> {
                try (Socket s = target.accept()) {
                    s.getOutputStream()
                            .write(("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:" + other.getLocalPort()
                                            + "/\r\nContent-Length: 0\r\n\r\n")
                                    .getBytes(StandardCharsets.US_ASCII));
                    s.getInputStream().read(); // until the probe hangs up
                } catch (IOException ignored) {
                    // the probe hung up
                }
            });
            HealthProbe.Result r = HealthProbe.run(
                    "http",
                    HostAndPort.parse("127.0.0.1:" + target.getLocalPort()),
                    "/healthz",
                    StatusMatcher.parse("200"),
                    5000,
                    HealthCheckerTest.ADDRESSES);
            assertThat(r.passed()).as(r.reason()).isFalse();
            assertThat(r.reason()).contains("302");
        }
        assertThat(elsewhere).as("connections to where the redirect pointed").hasValue(0);
    }

    private static void count(ServerSocket server, AtomicInteger accepted) {
        try {
            while (true) {
                server.accept().close();
                accepted.incrementAndGet();
            }
        } catch (IOException closed) {
            // the test is over
        }
    }
}
