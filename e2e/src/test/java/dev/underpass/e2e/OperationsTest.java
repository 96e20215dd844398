package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.UnderpassProcess;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What operators run the processes with: Prometheus metrics and probes on the gateway and the
 * agent, and draining on SIGTERM (live connections finish, new ones go elsewhere or nowhere).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class OperationsTest {
    static final Duration WAIT = Tunnel.WAIT;
    static final String OPS_LINE = "ops server listening on \\S+:(\\d+) \\(/metrics, /healthz, /readyz\\)";

    @TempDir
    Path dir;

    EchoServer echo;
    Tunnel tunnel;
    final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    final List<Socket> sockets = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        echo = new EchoServer();
        tunnel = Tunnel.start(dir, Map.of("echo", echo.address()));
    }

    @AfterEach
    void stop() throws Exception {
        for (Socket s : sockets) {
            s.close();
        }
        tunnel.close();
        echo.close();
    }

    private static int opsPort(UnderpassProcess p) throws InterruptedException {
        return Integer.parseInt(p.awaitLog(OPS_LINE, WAIT).group(1));
    }

    private HttpResponse<String> get(int port, String path) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .timeout(Duration.ofSeconds(10))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The sum of every series of {@code metric} whose labels include each of {@code labels}. */
    private double metric(int port, String metric, String... labels) throws Exception {
        double sum = 0;
        Pattern line = Pattern.compile("^" + Pattern.quote(metric) + "(\\{[^}]*})? (\\S+)$", Pattern.MULTILINE);
        Matcher m = line.matcher(get(port, "/metrics").body());
        while (m.find()) {
            String set = m.group(1) == null ? "" : m.group(1);
            boolean all = true;
            for (String l : labels) {
                all &= set.contains(l);
            }
            if (all) {
                sum += Double.parseDouble(m.group(2));
            }
        }
        return sum;
    }

    /** Sends {@code text} through the endpoint and reads the echo, on a connection left open. */
    private Socket echoed(String text) throws IOException {
        Socket s = new Socket("127.0.0.1", tunnel.endpointPort("echo"));
        sockets.add(s);
        s.setSoTimeout((int) WAIT.toMillis());
        OutputStream out = s.getOutputStream();
        out.write(text.getBytes(StandardCharsets.US_ASCII));
        out.flush();
        byte[] back = s.getInputStream().readNBytes(text.length());
        assertThat(new String(back, StandardCharsets.US_ASCII)).isEqualTo(text);
        return s;
    }

    private static void finish(Socket s) throws IOException {
        s.shutdownOutput();
        assertThat(s.getInputStream().read()).as("clean end").isEqualTo(-1);
        s.close();
    }

    @Test
    void gatewayAndAgentServeMetricsAndProbesThatFollowTheTraffic() throws Exception {
        int gatewayOps = opsPort(tunnel.gateway());
        // A second agent with its metrics port; the first one goes, so traffic takes the second.
        UnderpassProcess agent = tunnel.startAgentProcess(List.of(
                "agent",
                "--gateway",
                "localhost:" + tunnel.agentPort(),
                "--token-file",
                tunnel.tokenFile().toString(),
                "--ca-file",
                tunnel.caFile().toString(),
                "--name",
                "metered",
                "--target",
                echo.address(),
                "--metrics-listen",
                "127.0.0.1:0"));
        int agentOps = opsPort(agent);
        tunnel.gateway().awaitLog("agent=metered\\) advertised", WAIT);
        tunnel.agent().close();

        assertThat(get(agentOps, "/healthz").statusCode()).isEqualTo(200);
        assertThat(get(agentOps, "/readyz").statusCode()).isEqualTo(200);
        assertThat(get(gatewayOps, "/readyz").statusCode()).isEqualTo(200);
        assertThat(get(gatewayOps, "/readyz").body()).contains("store: ok");
        assertThat(metric(agentOps, "underpass_agent_sessions")).isEqualTo(1);
        awaitMetric(gatewayOps, "underpass_agent_sessions", 1); // the first agent's link closes soon

        String text = "x".repeat(1000);
        for (int i = 0; i < 3; i++) {
            finish(echoed(text));
        }
        Socket open = echoed("still open");

        String service = "service=\"acme/echo\"";
        String endpoint = "endpoint=\"" + tunnel.endpointId("echo") + "\"";
        String target = "target=\"" + echo.address() + "\"";
        awaitMetric(gatewayOps, "underpass_streams_total", 3, service, endpoint, "outcome=\"completed\"");
        assertThat(metric(gatewayOps, "underpass_streams_active", service, endpoint))
                .isEqualTo(1);
        assertThat(metric(gatewayOps, "underpass_stream_bytes_total", service, "direction=\"to_target\""))
                .isEqualTo(3000);
        assertThat(metric(gatewayOps, "underpass_stream_setup_seconds_count", service))
                .isEqualTo(4);
        awaitMetric(agentOps, "underpass_agent_streams_total", 3, target, "outcome=\"completed\"");
        assertThat(metric(agentOps, "underpass_agent_streams_active")).isEqualTo(1);
        assertThat(metric(agentOps, "underpass_agent_stream_bytes_total", target, "direction=\"to_gateway\""))
                .isEqualTo(3000);
        assertThat(metric(agentOps, "underpass_agent_dial_seconds_count", target))
                .isEqualTo(4);
        // The default TCP health check runs on the agent and shows on both sides.
        awaitMetric(agentOps, "underpass_agent_target_healthy", 1, target);
        awaitMetric(gatewayOps, "underpass_target_healthy_agents", 1, service, target);

        finish(open);
        awaitMetric(agentOps, "underpass_agent_streams_active", 0);
    }

    private void awaitMetric(int port, String metric, double expected, String... labels) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        double seen = Double.NaN;
        while (System.nanoTime() < deadline) {
            seen = metric(port, metric, labels);
            if (seen == expected) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError(metric + List.of(labels) + " = " + seen + " (expected: " + expected + ")");
    }

    @Test
    void aStoppingGatewayLetsLiveConnectionsFinishAndRefusesNewOnes() throws Exception {
        int gatewayOps = opsPort(tunnel.gateway());
        Socket live = echoed("before");

        tunnel.gateway().terminate();
        tunnel.gateway().awaitLog("gateway draining: 1 connection\\(s\\) open", WAIT);
        assertThat(get(gatewayOps, "/readyz").statusCode()).isEqualTo(503);
        assertThat(get(gatewayOps, "/readyz").body()).contains("consumers: failed: the gateway is draining");
        // The endpoint port no longer accepts, while the live connection still carries bytes both ways.
        try (Socket refused = new Socket()) {
            refused.connect(new java.net.InetSocketAddress("127.0.0.1", tunnel.endpointPort("echo")), 5000);
            throw new AssertionError("the draining gateway accepted a new connection");
        } catch (ConnectException expected) {
            // nothing listens any more
        }
        OutputStream out = live.getOutputStream();
        out.write("during".getBytes(StandardCharsets.US_ASCII));
        out.flush();
        InputStream in = live.getInputStream();
        assertThat(new String(in.readNBytes(6), StandardCharsets.US_ASCII)).isEqualTo("during");
        finish(live);

        tunnel.gateway().awaitLog("gateway drained in \\d+ ms: every connection finished", WAIT);
        assertThat(tunnel.gateway().awaitExit(WAIT))
                .as("the gateway exits once drained")
                .isTrue();
    }

    @Test
    void aStoppingAgentFinishesItsConnectionsWhileNewOnesGoToTheOtherAgent() throws Exception {
        UnderpassProcess second = tunnel.startAgentProcess(List.of(
                "agent",
                "--gateway",
                "localhost:" + tunnel.agentPort(),
                "--token-file",
                tunnel.tokenFile().toString(),
                "--ca-file",
                tunnel.caFile().toString(),
                "--name",
                "second",
                "--target",
                echo.address()));
        tunnel.gateway().awaitLog("agent=second\\) advertised", WAIT);
        // Least outstanding: with one connection held on each agent, both carry one.
        Socket one = echoed("one");
        Socket two = echoed("two");
        UnderpassProcess first = tunnel.agent();

        first.terminate();
        first.awaitLog("draining: the gateway routes no new connection here", WAIT);
        // Least outstanding put one of the two on each agent.
        tunnel.gateway().awaitLog("agent=test-agent\\) draining \\(.*\\): 1 connection\\(s\\) still open", WAIT);
        for (int i = 0; i < 5; i++) {
            finish(echoed("new " + i));
        }
        second.awaitLog("target=" + echo.address() + " closed", 5, WAIT); // all five through the second agent
        assertThat(first.isAlive())
                .as("the first agent waits for its live connection")
                .isTrue();
        for (Socket s : List.of(one, two)) {
            s.getOutputStream().write("!".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            assertThat(s.getInputStream().read()).isEqualTo('!');
            finish(s);
        }
        first.awaitLog("agent drained in \\d+ ms: every connection finished", WAIT);
        assertThat(first.awaitExit(WAIT))
                .as("the first agent exits once drained")
                .isTrue();
        assertThat(first.exitValue())
                .as("the JVM's status after SIGTERM and its shutdown hook")
                .isEqualTo(143);
        assertThat(second.isAlive()).isTrue();
    }
}
