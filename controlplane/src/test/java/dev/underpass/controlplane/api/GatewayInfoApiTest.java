package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.GatewayInfo;
import dev.underpass.protocol.HostAndPort;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /v1/gateway} through the real HTTPS API: a clear 503 until the gateway has published
 * its proxy address, then that address for any valid key, whatever its scopes.
 */
class GatewayInfoApiTest {
    @TempDir
    Path dir;

    ApiFixture api;

    @BeforeEach
    void start() throws Exception {
        api = ApiFixture.start(dir);
    }

    @AfterEach
    void stop() {
        api.close();
    }

    @Test
    void answers503WithRetryAfterUntilTheGatewayPublishedItsProxy() {
        ApiFixture.Response r = api.call(api.cp.operatorKey, "GET", "/v1/gateway");
        assertThat(r.problem(503)).contains("has not published its proxy address yet", "retry");
        assertThat(r.json().get("instance").asText()).isEqualTo("/v1/gateway");
        assertThat(r.headers().firstValue("retry-after")).hasValue(String.valueOf(Routes.GATEWAY_INFO_RETRY_SECONDS));
    }

    @Test
    void answersThePublishedAddressToAnyValidKey() {
        api.cp.cp.gatewayInfo(GatewayInfo.of(new HostAndPort("gateway.example.com", 3128), "endpoints.example.com"));
        JsonNode info = api.get(api.cp.operatorKey, "/v1/gateway");
        assertThat(info.toString())
                .isEqualTo(
                        "{\"proxy\":\"gateway.example.com:3128\",\"endpointDomain\":\"endpoints.example.com\",\"version\":1}");

        // A key narrowed to one unrelated scope of an ordinary account reads it too: it names nothing of any tenant.
        String owner = api.ok(api.cp.operatorKey, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201)
                .at("/ownerKey/key")
                .asText();
        String narrow = api.ok(
                        owner, "POST", "/v1/api-keys", "{\"name\":\"runner\",\"scopes\":[\"endpoints:read\"]}", 201)
                .get("key")
                .asText();
        assertThat(api.get(narrow, "/v1/gateway")).isEqualTo(info);

        // Republished (the proxy moved, IPv6): the next request sees it.
        api.cp.cp.gatewayInfo(GatewayInfo.of(new HostAndPort("::1", 40000), ControlPlane.Settings.DEFAULT_DOMAIN));
        assertThat(api.get(narrow, "/v1/gateway").get("proxy").asText()).isEqualTo("[::1]:40000");
    }

    @Test
    void needsAValidKey() {
        api.cp.cp.gatewayInfo(GatewayInfo.of(new HostAndPort("gw.test", 3128), ControlPlane.Settings.DEFAULT_DOMAIN));
        assertThat(api.call(null, "GET", "/v1/gateway").problem(401)).contains("Bearer");
        api.call("upk_" + "0".repeat(43), "GET", "/v1/gateway").problem(401);
    }
}
