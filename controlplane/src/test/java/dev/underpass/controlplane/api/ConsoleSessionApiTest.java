package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.credential.ConsoleSessions;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The web console's sign-in over the real HTTPS API: an API key becomes a session cookie
 * (HttpOnly, Secure, SameSite=Strict) and a CSRF token; the cookie then stands for the key on the
 * REST API, every change needs the token, and the session ends at sign-out, when idle, and with
 * its key. The console's files carry a strict Content-Security-Policy.
 */
class ConsoleSessionApiTest {
    @TempDir
    Path dir;

    ApiFixture api;
    String owner;

    @BeforeEach
    void start() throws Exception {
        api = ApiFixture.start(dir);
        owner = api.cp.account("acme");
    }

    @AfterEach
    void stop() {
        api.close();
    }

    /** A console exchange (not the REST API: no contract to check it against). */
    private HttpResponse<String> console(String method, String path, String body, String cookie) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(api.base.resolve(path))
                .timeout(ApiFixture.TIMEOUT)
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("content-type", "application/json");
        }
        if (cookie != null) {
            b.header("cookie", cookie);
        }
        return api.http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Signs in with {@code key}: the cookie to send back and the CSRF token. */
    private String[] signIn(String key) throws Exception {
        HttpResponse<String> r = console("POST", "/console/session", "{\"apiKey\":\"" + key + "\"}", null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        String setCookie = r.headers().firstValue("set-cookie").orElseThrow();
        return new String[] {
            setCookie.substring(0, setCookie.indexOf(';')),
            ApiFixture.JSON.readTree(r.body()).get("csrf").asText()
        };
    }

    @Test
    void anApiKeyBecomesAnHttpOnlyStrictCookieThatStandsForTheKeyButNeverShowsIt() throws Exception {
        HttpResponse<String> r = console("POST", "/console/session", "{\"apiKey\":\"" + owner + "\"}", null);
        assertThat(r.statusCode()).isEqualTo(201);
        String setCookie = r.headers().firstValue("set-cookie").orElseThrow();
        assertThat(setCookie)
                .startsWith(ConsoleFront.COOKIE + "=ucs_")
                .contains("; Path=/", "; Secure", "; HTTPOnly", "; SameSite=Strict")
                .doesNotContain(owner);
        JsonNode body = ApiFixture.JSON.readTree(r.body());
        assertThat(body.path("whoami").path("account").asText()).isEqualTo("acme");
        assertThat(body.path("csrf").asText()).hasSizeGreaterThan(30);
        assertThat(body.path("idleTimeoutSeconds").asLong()).isEqualTo(ConsoleSessions.IDLE.toSeconds());
        assertThat(r.body()).doesNotContain(owner);
        assertThat(r.headers().firstValue("content-security-policy")).isPresent();

        String cookie = setCookie.substring(0, setCookie.indexOf(';'));
        ApiFixture.Response whoami = api.send(null, "GET", "/v1/whoami", null, Map.of("cookie", cookie));
        assertThat(whoami.status()).as(whoami.text()).isEqualTo(200);
        assertThat(whoami.json().path("account").asText()).isEqualTo("acme");

        // After a reload the console asks again for its token, with the cookie alone.
        HttpResponse<String> again = console("GET", "/console/session", null, cookie);
        assertThat(again.statusCode()).isEqualTo(200);
        assertThat(ApiFixture.JSON.readTree(again.body()).path("csrf").asText())
                .isEqualTo(body.path("csrf").asText());
    }

    @Test
    void aSignInThatAFormOnAnotherSiteCouldSendIsRefused() throws Exception {
        HttpRequest form = HttpRequest.newBuilder(api.base.resolve("/console/session"))
                .timeout(ApiFixture.TIMEOUT)
                .header("content-type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString("{\"apiKey\":\"" + owner + "\"}"))
                .build();
        HttpResponse<String> r = api.http.send(form, HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(415);
        assertThat(r.headers().firstValue("set-cookie")).isEmpty();
    }

    @Test
    void aWrongKeyGetsNoCookie() throws Exception {
        HttpResponse<String> r = console("POST", "/console/session", "{\"apiKey\":\"upk_not-a-key\"}", null);
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.headers().firstValue("set-cookie")).isEmpty();
        assertThat(console("GET", "/console/session", null, ConsoleFront.COOKIE + "=ucs_forged")
                        .statusCode())
                .isEqualTo(401);
    }

    @Test
    void aChangeWithoutTheCsrfTokenIsRefusedAndChangesNothing() throws Exception {
        String[] s = signIn(owner);
        String create = "{\"name\":\"ci\",\"scopes\":[\"endpoints:read\"]}";
        ApiFixture.Response forged = api.send(null, "POST", "/v1/api-keys", create, Map.of("cookie", s[0]));
        assertThat(forged.problem(403)).contains(ConsoleFront.CSRF_HEADER);
        ApiFixture.Response wrong = api.send(
                null, "POST", "/v1/api-keys", create, Map.of("cookie", s[0], ConsoleFront.CSRF_HEADER, "guess"));
        wrong.problem(403);
        assertThat(api.get(owner, "/v1/api-keys").path("items").findValuesAsText("name"))
                .doesNotContain("ci");

        ApiFixture.Response made =
                api.send(null, "POST", "/v1/api-keys", create, Map.of("cookie", s[0], ConsoleFront.CSRF_HEADER, s[1]));
        assertThat(made.status()).as(made.text()).isEqualTo(201);
    }

    @Test
    void aSessionEndsAtSignOutWhenIdleAndWithItsKey() throws Exception {
        String[] out = signIn(owner);
        HttpResponse<String> signedOut = console("DELETE", "/console/session", null, out[0]);
        assertThat(signedOut.statusCode()).isEqualTo(204);
        assertThat(signedOut.headers().firstValue("set-cookie").orElseThrow()).contains("Max-Age=0");
        api.send(null, "GET", "/v1/whoami", null, Map.of("cookie", out[0])).problem(401);

        String[] idle = signIn(owner);
        api.cp.clock.advance(ConsoleSessions.IDLE.minus(Duration.ofMinutes(1)));
        assertThat(api.send(null, "GET", "/v1/whoami", null, Map.of("cookie", idle[0]))
                        .status())
                .as("a request within the idle time keeps it")
                .isEqualTo(200);
        api.cp.clock.advance(ConsoleSessions.IDLE.minus(Duration.ofMinutes(1)));
        assertThat(api.send(null, "GET", "/v1/whoami", null, Map.of("cookie", idle[0]))
                        .status())
                .isEqualTo(200);
        api.cp.clock.advance(ConsoleSessions.IDLE.plusSeconds(1));
        assertThat(api.send(null, "GET", "/v1/whoami", null, Map.of("cookie", idle[0]))
                        .problem(401))
                .contains("idle");

        JsonNode key = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"console\"}", 201);
        String[] revoked = signIn(key.get("key").asText());
        api.ok(owner, "DELETE", "/v1/api-keys/" + key.at("/apiKey/id").asText(), null, 200);
        api.send(null, "GET", "/v1/whoami", null, Map.of("cookie", revoked[0])).problem(401);
    }

    @Test
    void theConsoleIsServedFromTheJarWithAStrictPolicyAndNothingElseIs() throws Exception {
        HttpResponse<String> page = console("GET", "/console/", null, null);
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("content-type").orElseThrow()).startsWith("text/html");
        assertThat(page.headers().firstValue("content-security-policy").orElseThrow())
                .contains("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'")
                .doesNotContain("unsafe");
        assertThat(page.headers().firstValue("x-content-type-options")).contains("nosniff");
        assertThat(page.body()).contains("<script type=\"module\" src=\"/console/console.js\">");
        assertThat(console("GET", "/console/console.js", null, null).headers().firstValue("content-type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("text/javascript"));
        for (String path :
                new String[] {"/console/missing.js", "/console/..%2Fapi%2Fopenapi.yaml", "/console/a/b.js"}) {
            assertThat(console("GET", path, null, null).statusCode()).as(path).isEqualTo(404);
        }
        assertThat(console("POST", "/console/console.js", "{}", null).statusCode())
                .isEqualTo(405);
    }
}
