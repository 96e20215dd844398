package dev.underpass.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Counter;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class OpsServerTest {
    private static final InetSocketAddress LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    private final HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
    private final AtomicReference<String> storeProblem = new AtomicReference<>();
    private Telemetry telemetry;
    private OpsServer ops;

    @BeforeEach
    void start() throws IOException {
        telemetry = Telemetry.create(Telemetry.limitTagValues("underpass.endpoint.", "service", 2));
        ops = OpsServer.start(
                LOOPBACK,
                telemetry.registry(),
                List.of(
                        new Probe("store", () -> Optional.ofNullable(storeProblem.get())),
                        new Probe("agent-port", Optional::empty)));
    }

    @AfterEach
    void stop() {
        ops.close();
        telemetry.close();
        client.close();
    }

    @Test
    void logsWhereItListens() throws IOException {
        try (LogCapture log = new LogCapture("underpass.ops");
                OpsServer another = OpsServer.start(LOOPBACK, telemetry.registry(), List.of())) {
            assertThat(another.address().getPort()).isPositive();
            assertThat(log.messages())
                    .containsExactly("ops server listening on 127.0.0.1:"
                            + another.address().getPort() + " (/metrics, /healthz, /readyz)");
        }
    }

    @Test
    void metricsServesRegisteredMetersWithTheirLabels() throws Exception {
        Counter.builder("underpass.endpoint.connections")
                .tag("service", "git")
                .tag("port", "443")
                .register(telemetry.registry())
                .increment(3);
        HttpResponse<String> response = get("/metrics");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
        assertThat(response.body())
                .contains("# TYPE underpass_endpoint_connections_total counter")
                .contains("underpass_endpoint_connections_total{port=\"443\",service=\"git\"} 3.0")
                .contains("jvm_memory_used_bytes{");
    }

    @Test
    void metricsSeriesStayWithinTheTagLimit() throws Exception {
        for (int i = 0; i < 20; i++) {
            Counter.builder("underpass.endpoint.bytes")
                    .tag("service", "svc-" + i)
                    .register(telemetry.registry())
                    .increment();
        }
        assertThat(TelemetryTest.lines(get("/metrics").body(), "underpass_endpoint_bytes_total{"))
                .hasSize(2);
    }

    @Test
    void metricsSpeaksOpenMetricsWhenAsked() throws Exception {
        Counter.builder("underpass.sessions").register(telemetry.registry()).increment();
        HttpResponse<String> response = client.send(
                request("/metrics")
                        .header(
                                "Accept",
                                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3")
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type"))
                .hasValue("application/openmetrics-text; version=1.0.0; charset=utf-8");
        assertThat(response.body()).contains("underpass_sessions_total 1.0").endsWith("# EOF\n");
    }

    @Test
    void healthzIsOkWhileTheProcessRuns() throws Exception {
        storeProblem.set("not reachable");
        HttpResponse<String> response = get("/healthz");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEqualTo("ok\n");
        assertThat(response.headers().firstValue("content-type")).hasValue("text/plain; charset=utf-8");
    }

    @Test
    void readyzListsEveryCheckAndFailsWithTheReason() throws Exception {
        HttpResponse<String> ready = get("/readyz");
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(ready.body()).isEqualTo("store: ok\nagent-port: ok\n");

        storeProblem.set("database unreachable:\nconnection refused");
        HttpResponse<String> notReady = get("/readyz?verbose");
        assertThat(notReady.statusCode()).isEqualTo(503);
        assertThat(notReady.body())
                .isEqualTo("store: failed: database unreachable: connection refused\nagent-port: ok\n");

        storeProblem.set(null);
        assertThat(get("/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void aCheckThatThrowsCountsAsFailing() throws Exception {
        try (OpsServer broken = OpsServer.start(LOOPBACK, telemetry.registry(), List.of(new Probe("sessions", () -> {
            throw new IllegalStateException("registry closed");
        })))) {
            HttpResponse<String> response = client.send(
                    HttpRequest.newBuilder(URI.create("http://" + OpsServer.hostAndPort(broken.address()) + "/readyz"))
                            .timeout(Duration.ofSeconds(10))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(503);
            assertThat(response.body())
                    .isEqualTo("sessions: failed: check threw IllegalStateException: registry closed\n");
        }
    }

    @Test
    void readyzWithoutChecksIsOk() throws Exception {
        try (OpsServer plain = OpsServer.start(LOOPBACK, telemetry.registry(), List.of());
                RawHttp http = new RawHttp(plain.address())) {
            http.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
            RawHttp.Response response = http.read(false);
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.body()).isEqualTo("ok\n");
        }
    }

    @Test
    void unknownPathsAre404AndOtherMethods405() throws Exception {
        HttpResponse<String> missing = get("/admin");
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(get("/metrics/").statusCode()).isEqualTo(404);

        HttpResponse<String> post = client.send(
                request("/metrics").POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("allow")).hasValue("GET, HEAD");

        HttpResponse<String> delete =
                client.send(request("/readyz").DELETE().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(delete.statusCode()).isEqualTo(405);
        assertThat(delete.headers().firstValue("allow")).hasValue("GET, HEAD");
    }

    @Test
    void headAnswersLikeGetWithoutABody() throws Exception {
        try (RawHttp http = new RawHttp(ops.address())) {
            for (String path : List.of("/healthz", "/readyz", "/metrics")) {
                http.send("HEAD " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
                RawHttp.Response head = http.read(true);
                assertThat(head.status()).as(path).isEqualTo(200);
                assertThat(head.body()).isEmpty();
                assertThat(Integer.parseInt(head.header("content-length")))
                        .as(path)
                        .isPositive();
            }
            // The connection is still in step: no body bytes were sent after the HEAD answers.
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            RawHttp.Response get = http.read(false);
            assertThat(get.status()).isEqualTo(200);
            assertThat(get.body()).isEqualTo("ok\n");
        }
        HttpResponse<Void> head =
                client.send(request("/healthz").HEAD().build(), HttpResponse.BodyHandlers.discarding());
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("content-length")).hasValue("3");
    }

    @Test
    void keepsConnectionsAliveAndAnswersPipelinedRequestsInOrder() throws Exception {
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(http.read(false).body()).isEqualTo("ok\n");
            http.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
            RawHttp.Response second = http.read(false);
            assertThat(second.status()).isEqualTo(200);
            assertThat(second.body()).isEqualTo("store: ok\nagent-port: ok\n");

            http.send("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertThat(http.read(false).status()).isEqualTo(404);
            assertThat(http.read(false).body()).contains("jvm_threads_live_threads");
            RawHttp.Response last = http.read(false);
            assertThat(last.header("connection")).isEqualTo("close");
            assertThat(http.closedByServer()).isTrue();
        }
    }

    @Test
    void aClientThatPipelinesWithoutReadingIsCutOff() throws Exception {
        int sent = OpsHandler.MAX_PENDING * 2;
        try (RawHttp http = new RawHttp(ops.address())) {
            // Sent in one write, so the server reads them in one go and holds all but the first.
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(sent));
            int answered = 0;
            while (http.read(false) != null) {
                answered++;
            }
            assertThat(answered).isLessThan(sent);
        }
        assertThat(get("/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void http10ClosesUnlessAskedToKeepAlive() throws Exception {
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            RawHttp.Response first = http.read(false);
            assertThat(first.header("connection")).isEqualToIgnoringCase("keep-alive");
            http.send("GET /healthz HTTP/1.0\r\n\r\n");
            assertThat(http.read(false).body()).isEqualTo("ok\n");
            assertThat(http.closedByServer()).isTrue();
        }
    }

    @Test
    void oversizedHeadersAreRefusedAndTheServerCarriesOn() throws Exception {
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: " + "a".repeat(16 * 1024) + "\r\n\r\n");
            RawHttp.Response response;
            try {
                response = http.read(false);
            } catch (java.net.SocketException reset) {
                response = null;
            }
            if (response != null) {
                assertThat(response.status()).isEqualTo(431);
                assertThat(response.header("connection")).isEqualTo("close");
            }
            assertThat(http.closedByServer()).isTrue();
        }
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /" + "a".repeat(8 * 1024) + " HTTP/1.1\r\nHost: x\r\n\r\n");
            RawHttp.Response response = http.read(false);
            assertThat(response.status()).isEqualTo(414);
            assertThat(http.closedByServer()).isTrue();
        }
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + "a".repeat(6 * 1024) + "\r\n\r\n");
            assertThat(http.read(false).status()).isEqualTo(200);
        }
        assertThat(get("/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void requestBodiesAreRefused() throws Exception {
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
            RawHttp.Response response = http.read(false);
            assertThat(response.status()).isEqualTo(413);
            assertThat(http.closedByServer()).isTrue();
        }
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
            assertThat(http.read(false).status()).isEqualTo(200);
        }
        try (RawHttp http = new RawHttp(ops.address())) {
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nnot http at all\r\n\r\n");
            assertThat(http.read(false).status()).isEqualTo(200);
            RawHttp.Response garbage = http.read(false);
            assertThat(garbage == null || garbage.status() == 400).isTrue();
            assertThat(http.closedByServer()).isTrue();
        }
        assertThat(get("/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void closesIdleConnections() throws Exception {
        try (OpsServer quick = OpsServer.start(LOOPBACK, telemetry.registry(), List.of(), Duration.ofMillis(200));
                RawHttp http = new RawHttp(quick.address())) {
            http.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            assertThat(http.read(false).status()).isEqualTo(200);
            // Bounded by the socket's read timeout (10 s), far above the 200 ms idle limit.
            assertThat(http.closedByServer()).isTrue();
        }
    }

    @Test
    void aBusyAddressIsAnIOExceptionAndCloseStopsListening() throws Exception {
        assertThatThrownBy(() -> OpsServer.start(ops.address(), telemetry.registry(), List.of()))
                .isInstanceOf(IOException.class);
        assertThatThrownBy(() -> OpsServer.start(
                        LOOPBACK,
                        telemetry.registry(),
                        List.of(new Probe("a", Optional::empty), new Probe("a", Optional::empty))))
                .isInstanceOf(IllegalArgumentException.class);

        InetSocketAddress address = ops.address();
        ops.close();
        assertThatThrownBy(() -> new Socket(address.getAddress(), address.getPort()).close())
                .isInstanceOf(ConnectException.class);
        ops = OpsServer.start(LOOPBACK, telemetry.registry(), List.of());
    }

    @Test
    void probeNamesAreOneLineWithoutColons() {
        assertThatThrownBy(() -> new Probe("a:b", Optional::empty)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Probe("a\nb", Optional::empty)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Probe(" ", Optional::empty)).isInstanceOf(IllegalArgumentException.class);
    }

    private HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(URI.create("http://" + OpsServer.hostAndPort(ops.address()) + path))
                .timeout(Duration.ofSeconds(10));
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return client.send(request(path).build(), HttpResponse.BodyHandlers.ofString());
    }
}
