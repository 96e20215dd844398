package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.protocol.Tls;
import dev.underpass.protocol.Transport;
import dev.underpass.testkit.ApiContract;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The control plane behind its real HTTPS API on 127.0.0.1, port 0, with an embedded store under
 * a directory and a {@link dev.underpass.controlplane.TestClock}, and a real HTTP client that
 * trusts the server's test certificate.
 */
final class ApiFixture implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** One response: its status, headers, text, and the JSON body where there is one (else null). */
    record Response(int status, HttpHeaders headers, String text, JsonNode json) {
        String contentType() {
            return headers.firstValue("content-type").orElse("");
        }

        /** Asserts that this is an RFC 9457 problem with {@code status} and a detail, and returns the detail. */
        String problem(int expected) {
            assertThat(status).as("status of %s", text).isEqualTo(expected);
            assertThat(contentType()).isEqualTo("application/problem+json");
            assertThat(json.get("status").asInt()).isEqualTo(expected);
            assertThat(json.get("title").asText()).isNotBlank();
            String detail = json.get("detail").asText();
            assertThat(detail).hasSizeGreaterThan(15);
            return detail;
        }
    }

    final ControlPlaneFixture cp;
    private final EventLoopGroup group;
    private final ApiServer server;
    final HttpClient http;
    final URI base;

    private ApiFixture(ControlPlaneFixture cp, EventLoopGroup group, ApiServer server, HttpClient http, URI base) {
        this.cp = cp;
        this.group = group;
        this.server = server;
        this.http = http;
        this.base = base;
    }

    static ApiFixture start(Path dir) throws Exception {
        return start(dir, new AuthFailures());
    }

    /** As {@link #start(Path)}, with these limits on failed authentication attempts. */
    static ApiFixture start(Path dir, AuthFailures authFailures) throws Exception {
        return start(dir, authFailures, ApiServer.Timeouts.DEFAULTS, ControlPlane.Oidc.NONE);
    }

    /** As {@link #start(Path)}, with these deadlines on connections. */
    static ApiFixture start(Path dir, ApiServer.Timeouts timeouts) throws Exception {
        return start(dir, new AuthFailures(), timeouts, ControlPlane.Oidc.NONE);
    }

    /** As {@link #start(Path)}, trusting {@code oidc}. */
    static ApiFixture start(Path dir, ControlPlane.Oidc oidc) throws Exception {
        return start(dir, new AuthFailures(), ApiServer.Timeouts.DEFAULTS, oidc);
    }

    private static ApiFixture start(
            Path dir, AuthFailures authFailures, ApiServer.Timeouts timeouts, ControlPlane.Oidc oidc) throws Exception {
        TestCertificate cert = TestCertificate.create(dir);
        ControlPlaneFixture cp = ControlPlaneFixture.open(StoreConfig.embedded(dir), authFailures, oidc);
        EventLoopGroup group = Transport.group("test-api");
        ApiServer server = new ApiServer(
                cp.cp, Tls.httpsServer(cert.certFile().toFile(), cert.keyFile().toFile()), timeouts);
        try {
            InetSocketAddress at = server.bind(group, new InetSocketAddress("127.0.0.1", 0));
            HttpClient http = HttpClient.newBuilder()
                    .sslContext(cert.clientContext())
                    .version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(TIMEOUT)
                    .build();
            return new ApiFixture(cp, group, server, http, URI.create("https://127.0.0.1:" + at.getPort()));
        } catch (Exception | Error e) {
            server.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            cp.close();
            throw e;
        }
    }

    /** Calls the API as the holder of {@code key} (null: no authorization header) with a JSON body or none. */
    Response call(String key, String method, String path, String body) {
        return send(key, method, path, body, Map.of());
    }

    Response call(String key, String method, String path) {
        return call(key, method, path, null);
    }

    Response send(String key, String method, String path, String body, Map<String, String> headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path))
                .timeout(TIMEOUT)
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("authorization", "Bearer " + key);
        }
        if (body != null) {
            b.header("content-type", "application/json");
        }
        headers.forEach(b::header);
        try {
            HttpRequest request = b.build();
            HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
            String type = r.headers().firstValue("content-type").orElse("");
            ApiContract.check(method, path, request.headers(), body, r.statusCode(), r.headers(), r.body());
            JsonNode json = type.contains("json") ? JSON.readTree(r.body()) : null;
            return new Response(r.statusCode(), r.headers(), r.body(), json);
        } catch (IOException e) {
            throw new IllegalStateException(method + " " + path + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(method + " " + path + ": interrupted", e);
        }
    }

    /** Calls and asserts the status, returning the JSON body. */
    JsonNode ok(String key, String method, String path, String body, int status) {
        Response r = call(key, method, path, body);
        assertThat(r.status()).as("%s %s: %s", method, path, r.text()).isEqualTo(status);
        return r.json();
    }

    JsonNode get(String key, String path) {
        return ok(key, "GET", path, null, 200);
    }

    @Override
    public void close() {
        http.close();
        server.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        cp.close();
    }
}
