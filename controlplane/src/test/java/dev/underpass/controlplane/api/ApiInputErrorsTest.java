package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.underpass.controlplane.JsonDiff;
import dev.underpass.controlplane.core.Secrets;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad requests through the real HTTPS API: each gets an RFC 9457 problem whose detail says what
 * is wrong and what is expected, and none changes anything. And lists page through every object
 * once, in order.
 */
class ApiInputErrorsTest {
    static final String VALID_SERVICE = """
            {"name": "git", "listeners": [{"port": 443, "targets": ["git.internal:443"]}]}""";

    @TempDir
    static Path dir;

    static ApiFixture api;
    static String key;

    @BeforeAll
    static void setUp() throws Exception {
        api = ApiFixture.start(dir);
        key = api.ok(api.cp.operatorKey, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201)
                .at("/ownerKey/key")
                .asText();
        api.ok(key, "POST", "/v1/services", """
                {"name": "existing", "listeners": [{"port": 22, "targets": ["ssh.internal:22"]}]}""", 201);
    }

    @AfterAll
    static void tearDown() {
        if (api != null) {
            api.close();
        }
    }

    /** A request, and what its problem's detail must mention. */
    record Bad(String name, String method, String path, String body, int status, List<String> detailMentions) {}

    static List<Bad> badRequests() {
        return List.of(
                new Bad(
                        "malformed JSON",
                        "POST",
                        "/v1/services",
                        "{\"name\": \"git\", \"listeners\": [",
                        400,
                        List.of("the JSON ends early", "line 1, column 31")),
                new Bad(
                        "not JSON",
                        "POST",
                        "/v1/services",
                        "{\"name\": git}",
                        400,
                        List.of("Unrecognized token 'git'", "column 10")),
                new Bad(
                        "not an object",
                        "POST",
                        "/v1/services",
                        "[\"git\"]",
                        400,
                        List.of("body", "expected: a JSON object")),
                new Bad(
                        "trailing garbage",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE + " {}",
                        400,
                        List.of("a single JSON object")),
                new Bad(
                        "unknown field",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("{\"name\"", "{\"colour\": \"red\", \"name\""),
                        400,
                        List.of("colour: unknown field", "listeners")),
                new Bad(
                        "a field given twice",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("{\"name\": \"git\"", "{\"name\": \"git\", \"name\": \"other\""),
                        400,
                        List.of("name: given more than once", "each field once")),
                new Bad(
                        "a nested field given twice",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("\"port\": 443", "\"port\": 443, \"port\": 22"),
                        400,
                        List.of("listeners[0].port: given more than once")),
                new Bad(
                        "nested unknown field",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("\"port\": 443", "\"port\": 443, \"weight\": 1"),
                        400,
                        List.of("listeners[0].weight: unknown field", "targets")),
                new Bad(
                        "text for a number",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("443,", "\"https\","),
                        400,
                        List.of("listeners[0].port", "expected: a number")),
                new Bad(
                        "a number in text",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("443,", "\"443\","),
                        400,
                        List.of("listeners[0].port", "expected: a number")),
                new Bad(
                        "a fraction for a whole number",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("443,", "443.5,"),
                        400,
                        List.of("listeners[0].port", "expected: a number")),
                new Bad(
                        "a number for text",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("\"git\"", "42"),
                        400,
                        List.of("name: '42'", "expected: a string")),
                new Bad(
                        "text for a list",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace(
                                "[{\"port\": 443, \"targets\": [\"git.internal:443\"]}]", "\"git.internal:443\""),
                        400,
                        List.of("listeners", "expected: an array")),
                new Bad(
                        "text for a boolean",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("{\"name\"", "{\"acceptanceRequired\": \"yes\", \"name\""),
                        400,
                        List.of("acceptanceRequired", "expected: true or false")),
                new Bad(
                        "a number for a boolean",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("{\"name\"", "{\"acceptanceRequired\": 0, \"name\""),
                        400,
                        List.of("acceptanceRequired", "expected: true or false")),
                new Bad(
                        "unknown enum value",
                        "POST",
                        "/v1/users",
                        "{\"name\": \"bob\", \"role\": \"superuser\"}",
                        400,
                        List.of("superuser", "owner, admin, member, viewer")),
                new Bad(
                        "bad time",
                        "POST",
                        "/v1/api-keys",
                        "{\"name\": \"k\", \"expiresAt\": \"tomorrow\"}",
                        400,
                        List.of("expiresAt: 'tomorrow'", "expected: a time such as")),
                new Bad(
                        "invalid values",
                        "POST",
                        "/v1/services",
                        "{\"name\": \"Git!\", \"listeners\": [{\"port\": 70000, \"targets\": []}]}",
                        400,
                        List.of("name: 'Git!'", "listeners[0].port: 70000", "listeners[0].targets")),
                new Bad("no body", "POST", "/v1/services", null, 400, List.of("body: missing")),
                new Bad(
                        "terminal escapes in a description",
                        "POST",
                        "/v1/services",
                        VALID_SERVICE.replace("{\"name\"", "{\"description\": \"\\u001b[2Jhello\", \"name\""),
                        400,
                        List.of("description: contains control characters")),
                new Bad(
                        "a null scope",
                        "POST",
                        "/v1/api-keys",
                        "{\"name\": \"k\", \"scopes\": [null]}",
                        400,
                        List.of("scopes: null entry")),
                new Bad(
                        "an expiry centuries away",
                        "POST",
                        "/v1/api-keys",
                        "{\"name\": \"k\", \"expiresAt\": \"2999-01-01T00:00:00Z\"}",
                        400,
                        List.of("expiresAt: 2999-01-01T00:00:00Z", "within 3660 days")),
                new Bad("bad limit", "GET", "/v1/services?limit=0", null, 400, List.of("limit: 0", "1-500")),
                new Bad("limit not a number", "GET", "/v1/services?limit=ten", null, 400, List.of("limit", "'ten'")),
                new Bad("limit twice", "GET", "/v1/services?limit=5&limit=6", null, 400, List.of("limit", "once")),
                new Bad(
                        "unknown state",
                        "GET",
                        "/v1/endpoints?state=up",
                        null,
                        400,
                        List.of("'up'", "pendingAcceptance")),
                new Bad(
                        "unknown side",
                        "GET",
                        "/v1/endpoints?side=left",
                        null,
                        400,
                        List.of("side: 'left'", "provider")),
                new Bad("unknown path", "GET", "/v1/servces", null, 404, List.of("/v1/servces", "openapi")),
                new Bad(
                        "unknown nested path",
                        "GET",
                        "/v1/services/existing/listeners",
                        null,
                        404,
                        List.of("/v1/services/existing/listeners")),
                new Bad(
                        "wrong method",
                        "PUT",
                        "/v1/services/existing",
                        VALID_SERVICE,
                        405,
                        List.of("PUT", "GET", "PATCH", "DELETE")),
                new Bad(
                        "wrong method on a list",
                        "DELETE",
                        "/v1/services",
                        null,
                        405,
                        List.of("DELETE", "GET", "POST")));
    }

    @Test
    void aKeySentInTheWrongPlaceNeverComesBackInTheProblem() {
        String secret = api.ok(key, "POST", "/v1/api-keys", "{\"name\": \"ci\"}", 201)
                .get("key")
                .asText();
        List<ApiFixture.Response> answers = List.of(
                api.call(key, "POST", "/v1/api-keys", "{\"name\": \"" + secret + "\"}"),
                api.call(key, "GET", "/v1/api-keys/" + secret),
                api.call(key, "GET", "/v1/services?pageToken=" + secret));
        assertThat(answers.get(0).problem(400)).contains("name: 'upk_****'");
        assertThat(answers.get(0).json().get("errors").toString()).contains("name: 'upk_****'");
        assertThat(answers.get(1).problem(405)).contains("method GET is not allowed on /v1/api-keys/upk_****");
        assertThat(answers.get(1).json().get("instance").asText()).isEqualTo("/v1/api-keys/upk_****");
        assertThat(answers.get(2).problem(400)).contains("pageToken: upk_****");
        assertThat(answers)
                .allSatisfy(r -> assertThat(r.text())
                        .doesNotContain(secret)
                        .doesNotContain(secret.substring(Secrets.SHOWN_PREFIX_LENGTH)));
    }

    @Test
    void everyBadRequestGetsAProblemThatSaysWhatToDoAndChangesNothing() {
        JsonNode before = snapshot();
        List<String> failures = new ArrayList<>();
        for (Bad bad : badRequests()) {
            ApiFixture.Response r = api.call(key, bad.method(), bad.path(), bad.body());
            String detail;
            try {
                detail = r.problem(bad.status());
            } catch (AssertionError e) {
                failures.add(bad.name() + ": " + r.status() + " " + r.text());
                continue;
            }
            for (String mention : bad.detailMentions()) {
                if (!detail.contains(mention)
                        && !r.json().path("errors").toString().contains(mention)) {
                    failures.add(bad.name() + ": detail does not mention '" + mention + "': " + detail);
                }
            }
            assertThat(r.json().get("instance").asText())
                    .as(bad.name())
                    .isEqualTo(bad.path().split("\\?")[0]);
            if (bad.status() == 405) {
                assertThat(r.headers().firstValue("allow")).as(bad.name()).isPresent();
            }
        }
        assertThat(failures).isEmpty();
        assertThat(JsonDiff.of(before, snapshot())).isEmpty();
    }

    @Test
    void aBodyOverOneMebibyteIsA413() throws Exception {
        JsonNode before = snapshot();
        String description = "x".repeat(ApiServer.MAX_BODY_BYTES);
        ApiFixture.Response r = api.call(
                key,
                "POST",
                "/v1/services",
                VALID_SERVICE.replace("{\"name\"", "{\"description\": \"" + description + "\", \"name\""));
        assertThat(r.problem(413)).contains(String.valueOf(ApiServer.MAX_BODY_BYTES));

        // The same without a content-length: the server finds out while the chunks arrive.
        byte[] big = VALID_SERVICE
                .replace("{\"name\"", "{\"description\": \"" + description + "\", \"name\"")
                .getBytes(StandardCharsets.UTF_8);
        HttpRequest chunked = HttpRequest.newBuilder(api.base.resolve("/v1/services"))
                .timeout(ApiFixture.TIMEOUT)
                .header("authorization", "Bearer " + key)
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big)))
                .build();
        HttpResponse<String> response = api.http.send(chunked, HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.headers().firstValue("content-type")).hasValue("application/problem+json");
        assertThat(JsonDiff.of(before, snapshot())).isEmpty();
    }

    @Test
    void aHeaderSectionOver16KibIsA431() {
        JsonNode before = snapshot();
        ApiFixture.Response r = api.send(
                key,
                "POST",
                "/v1/services",
                VALID_SERVICE,
                Map.of("x-padding", "p".repeat(ApiServer.MAX_HEADER_BYTES + 1)));
        assertThat(r.problem(431)).containsIgnoringCase("header");
        assertThat(JsonDiff.of(before, snapshot())).isEmpty();
    }

    @Test
    void aRequestLineOver4KibIsA414() {
        ApiFixture.Response r = api.call(key, "GET", "/v1/services/" + "s".repeat(4096));
        assertThat(r.problem(414)).containsIgnoringCase("line");
    }

    @Test
    void oneHundredTwentyServicesPageByFiftyWithoutGapsOrDuplicates() {
        List<String> created = new ArrayList<>();
        for (int i = 0; i < 120; i++) {
            String name = "page-" + i;
            api.ok(key, "POST", "/v1/services", VALID_SERVICE.replace("\"git\"", "\"" + name + "\""), 201);
            created.add(name);
        }
        List<String> listed = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        String token = null;
        for (int page = 0; page < 10; page++) {
            JsonNode body = api.get(key, "/v1/services?limit=50" + (token == null ? "" : "&pageToken=" + token));
            sizes.add(body.get("items").size());
            body.get("items").forEach(s -> listed.add(s.get("name").asText()));
            token = body.path("nextPageToken").asText(null);
            if (token == null) {
                break;
            }
        }
        assertThat(sizes).containsExactly(50, 50, 21); // with the service made in setUp, first
        Set<String> unique = new HashSet<>(listed);
        assertThat(unique).hasSameSizeAs(listed);
        assertThat(listed.getFirst()).isEqualTo("existing");
        assertThat(listed.subList(1, listed.size())).isEqualTo(created);

        for (String bad : List.of(
                "garbage!",
                "bm90LWEtdG9rZW4",
                Base64.getUrlEncoder().withoutPadding().encodeToString("after:x".getBytes(StandardCharsets.UTF_8)))) {
            String detail = api.call(key, "GET", "/v1/services?limit=50&pageToken=" + bad)
                    .problem(400);
            assertThat(detail).contains("pageToken", "nextPageToken");
        }
    }

    /** The account as its owner sees it. */
    static JsonNode snapshot() {
        ObjectNode n = ApiFixture.JSON.createObjectNode();
        for (String path :
                List.of("/v1/services?limit=500", "/v1/users", "/v1/api-keys", "/v1/agent-tokens", "/v1/endpoints")) {
            n.set(path, api.get(key, path));
        }
        return n;
    }
}
