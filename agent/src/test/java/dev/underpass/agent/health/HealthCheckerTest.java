package dev.underpass.agent.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.underpass.agent.target.TargetAddresses;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The agent's health checks against real servers on loopback: verdicts, thresholds, allowlist. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class HealthCheckerTest {
    static final TargetAddresses ADDRESSES = new TargetAddresses(List.of(), TargetAddresses.Resolver.SYSTEM);
    HttpServer http;
    final AtomicInteger status = new AtomicInteger(200);
    /** Probes answered with a failing status, and with a passing one other than 200. */
    final AtomicInteger failing = new AtomicInteger();

    final AtomicInteger recovering = new AtomicInteger();
    final BlockingQueue<ControlMessage.Health> reports = new LinkedBlockingQueue<>();
    HealthChecker checker;

    @BeforeEach
    void start() throws Exception {
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        http.createContext("/healthz", ex -> {
            int s = status.get();
            (s >= 500 ? failing : s == 204 ? recovering : new AtomicInteger()).incrementAndGet();
            ex.sendResponseHeaders(s, -1);
            ex.close();
        });
        http.start();
    }

    @AfterEach
    void stop() {
        if (checker != null) {
            checker.close();
        }
        http.stop(0);
    }

    private HostAndPort httpTarget() {
        return HostAndPort.parse("127.0.0.1:" + http.getAddress().getPort());
    }

    private static ControlMessage.Check check(
            String id, HostAndPort target, String protocol, int healthy, int unhealthy) {
        return new ControlMessage.Check(
                id,
                target.toString(),
                protocol,
                "http".equals(protocol) ? "/healthz" : null,
                "http".equals(protocol) ? "200-299" : null,
                1000,
                2000,
                healthy,
                unhealthy);
    }

    private ControlMessage.Health next() throws InterruptedException {
        ControlMessage.Health h = reports.poll(30, TimeUnit.SECONDS);
        assertThat(h).as("a health report within 30 s").isNotNull();
        return h;
    }

    @Test
    void anHttpTargetTurnsUnhealthyAfterTheThresholdAndBackAfterTheHealthyOne() throws Exception {
        HostAndPort target = httpTarget();
        checker = new HealthChecker(Set.of(target), ADDRESSES, (c, h) -> {});
        checker.replace(List.of(check("web:80/" + target, target, "http", 2, 3)), reports::add);

        ControlMessage.Health first = next();
        assertThat(first.healthy()).isTrue();
        assertThat(first.check()).isEqualTo("web:80/" + target);
        assertThat(first.reason()).isEqualTo("HTTP 200");

        status.set(503);
        ControlMessage.Health down = next();
        assertThat(down.healthy()).isFalse();
        assertThat(down.reason()).isEqualTo("HTTP 503 (expected: 200-299)");
        assertThat(failing.get())
                .as("failed probes before the verdict: the unhealthy threshold")
                .isGreaterThanOrEqualTo(3);

        status.set(204);
        assertThat(next().healthy()).isTrue();
        assertThat(recovering.get())
                .as("passed probes before the verdict: the healthy threshold")
                .isGreaterThanOrEqualTo(2);
        assertThat(reports).as("one report per change, none in between").isEmpty();
    }

    @Test
    void tcpChecksPassOnAListeningPortAndFailOnAClosedOne() throws Exception {
        HostAndPort open = httpTarget();
        HostAndPort closed;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            closed = HostAndPort.parse("127.0.0.1:" + s.getLocalPort());
        }
        checker = new HealthChecker(Set.of(open, closed), ADDRESSES, (c, h) -> {});
        checker.replace(List.of(check("a", open, "tcp", 1, 1), check("b", closed, "tcp", 1, 1)), reports::add);

        ControlMessage.Health one = next();
        ControlMessage.Health two = next();
        ControlMessage.Health a = one.check().equals("a") ? one : two;
        ControlMessage.Health b = one.check().equals("b") ? one : two;
        assertThat(a.healthy()).isTrue();
        assertThat(a.reason()).startsWith("TCP connect succeeded");
        assertThat(b.healthy()).isFalse();
        assertThat(b.reason()).startsWith("REFUSED");
    }

    @Test
    void aTargetOutsideTheAllowlistIsReportedUnhealthyWithoutBeingProbed() throws Exception {
        HostAndPort target = httpTarget();
        AtomicInteger hits = new AtomicInteger();
        http.createContext("/", ex -> {
            hits.incrementAndGet();
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        checker = new HealthChecker(Set.of(HostAndPort.parse("127.0.0.1:1")), ADDRESSES, (c, h) -> {});
        ControlMessage.Check c = new ControlMessage.Check("x", target.toString(), "http", "/", null, 1000, 1000, 1, 1);
        checker.replace(List.of(c), reports::add);

        ControlMessage.Health h = next();
        assertThat(h.healthy()).isFalse();
        assertThat(h.reason()).contains("not in this agent's allowlist");
        assertThat(hits).hasValue(0);
    }

    @Test
    void replacingChecksKeepsUnchangedOnesAndStopsRemovedOnes() throws Exception {
        HostAndPort target = httpTarget();
        checker = new HealthChecker(Set.of(target), ADDRESSES, (c, h) -> {});
        ControlMessage.Check c = check("web", target, "http", 1, 3);
        checker.replace(List.of(c), reports::add);
        assertThat(next().healthy()).isTrue();

        status.set(500);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (failing.get() < 1 && System.nanoTime() < deadline) {
            Thread.sleep(20); // waiting for the first failed probe
        }
        checker.replace(List.of(c), reports::add); // unchanged: its count of failures goes on
        ControlMessage.Health down = next();
        assertThat(down.healthy()).isFalse();
        assertThat(failing.get())
                .as("three failures in all, not three after the replace")
                .isEqualTo(3);

        checker.replace(List.of(), reports::add);
        int probes = failing.get();
        assertThat(reports.poll(3, TimeUnit.SECONDS))
                .as("a stopped check reports nothing")
                .isNull();
        assertThat(failing.get()).as("nor probes").isLessThanOrEqualTo(probes + 1);
    }

    @Test
    void statusMatchersParseRangesAndListsAndRefuseNonsense() {
        StatusMatcher m = StatusMatcher.parse("200,204, 300-302");
        assertThat(m.matches(200)).isTrue();
        assertThat(m.matches(204)).isTrue();
        assertThat(m.matches(301)).isTrue();
        assertThat(m.matches(201)).isFalse();
        assertThat(StatusMatcher.parse(null).matches(399)).isTrue();
        assertThatThrownBy(() -> StatusMatcher.parse("299-200")).hasMessageContaining("low <= high");
        assertThatThrownBy(() -> StatusMatcher.parse("abc")).hasMessageContaining("status codes 100-599");
        assertThatThrownBy(() -> StatusMatcher.parse("600")).hasMessageContaining("status codes 100-599");
    }
}
