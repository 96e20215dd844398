package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.underpass.testkit.ApiContract;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** The contract check that every API test's exchange goes through finds what breaks the OpenAPI document. */
class ApiContractTest {
    private static final HttpHeaders KEY = headers(Map.of("authorization", List.of("Bearer upk_0123456789abcdef")));
    private static final HttpHeaders JSON = headers(Map.of("content-type", List.of("application/json")));
    private static final HttpHeaders PROBLEM = headers(Map.of("content-type", List.of("application/problem+json")));
    private static final String GATEWAY =
            "{\"proxy\":\"127.0.0.1:3128\",\"endpointDomain\":\"endpoints.underpass.internal\",\"version\":1}";
    private static final String NOT_FOUND = "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
            + "\"detail\":\"no such route: GET /v1/nothing-here\",\"instance\":\"/v1/nothing-here\"}";

    private static HttpHeaders headers(Map<String, List<String>> map) {
        return HttpHeaders.of(map, (name, value) -> true);
    }

    @Test
    void itChecksTheDocumentThatTheApiServes() {
        assertThat(ApiContract.DOCUMENT).isEqualTo(Routes.OPENAPI_RESOURCE);
    }

    @Test
    void aResponseAsDocumentedPasses() {
        assertThatCode(() -> ApiContract.check("GET", "/v1/gateway", KEY, null, 200, JSON, GATEWAY))
                .doesNotThrowAnyException();
    }

    @Test
    void aResponseBodyOutsideItsSchemaFails() {
        assertThatThrownBy(() -> ApiContract.check(
                        "GET", "/v1/gateway", KEY, null, 200, JSON, GATEWAY.replace("\"version\":1", "\"version\":2")))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("response breaks");
        assertThatThrownBy(() ->
                        ApiContract.check("GET", "/v1/gateway", KEY, null, 200, JSON, "{\"proxy\":\"127.0.0.1:3128\"}"))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("endpointDomain");
        assertThatThrownBy(() -> ApiContract.check("GET", "/v1/gateway", KEY, null, 200, PROBLEM, GATEWAY))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("response breaks");
    }

    @Test
    void aRequestOutsideTheContractMustBeRefused() {
        // No key on an operation that needs one: fine if refused, a violation if answered.
        assertThatThrownBy(() -> ApiContract.check("GET", "/v1/gateway", headers(Map.of()), null, 200, JSON, GATEWAY))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("request breaks");
        assertThatThrownBy(() -> ApiContract.check(
                        "GET", "/v1/audit-events?limit=100000", KEY, null, 200, JSON, "{\"items\":[]}"))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("limit");
    }

    @Test
    void anOptionalBodyMayBeLeftOut() {
        // The request passes; only the (deliberately empty) response body is reported.
        assertThatThrownBy(() -> ApiContract.check(
                        "POST", "/v1/api-keys/key-0123456789abcdef/rotate", KEY, null, 201, JSON, "{}"))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("the response breaks")
                .hasMessageContaining("apiKey");
        assertThatThrownBy(() -> ApiContract.check("POST", "/v1/services", KEY, null, 201, JSON, "{}"))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("validation.request.body.missing");
    }

    @Test
    void anUnknownPathIsA404Problem() {
        assertThatCode(() -> ApiContract.check("GET", "/v1/nothing-here", KEY, null, 404, PROBLEM, NOT_FOUND))
                .doesNotThrowAnyException();
        assertThatThrownBy(() -> ApiContract.check("GET", "/v1/nothing-here", KEY, null, 200, JSON, "{}"))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("no such operation");
    }

    /**
     * A client wrapped by {@link ApiContract#checking} checks what it really sends and gets, request bodies
     * included: here against a plain HTTP server that answers off the contract where told to (the real API
     * cannot be made to).
     */
    @Test
    void aCheckingClientChecksEachExchangeItMakes() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            exchange.getRequestBody().readAllBytes();
            String answer = exchange.getRequestURI().getPath().equals("/v1/accounts")
                    ? "{}"
                    : exchange.getRequestHeaders().containsKey("x-off-contract")
                            ? GATEWAY.replace("\"version\":1", "\"version\":2")
                            : GATEWAY;
            byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("content-type", "application/json");
            exchange.sendResponseHeaders(exchange.getRequestMethod().equals("POST") ? 201 : 200, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        List<AssertionError> seen = new CopyOnWriteArrayList<>();
        try (HttpClient http = ApiContract.checking(HttpClient.newHttpClient(), seen::add)) {
            URI base = URI.create("http://127.0.0.1:" + server.getAddress().getPort());
            HttpRequest gateway = HttpRequest.newBuilder(base.resolve("/v1/gateway"))
                    .header("authorization", "Bearer upk_0123456789abcdef")
                    .build();
            assertThat(http.send(gateway, HttpResponse.BodyHandlers.ofByteArray())
                            .body())
                    .asString(StandardCharsets.UTF_8)
                    .isEqualTo(GATEWAY);
            assertThat(seen).isEmpty();

            // The response (version 2, where the document allows 1 only) breaks the contract.
            HttpRequest offContract = HttpRequest.newBuilder(base.resolve("/v1/gateway?x=1"))
                    .header("authorization", "Bearer upk_0123456789abcdef")
                    .header("x-off-contract", "yes")
                    .build();
            assertThatThrownBy(() -> http.send(offContract, HttpResponse.BodyHandlers.ofString()))
                    .isInstanceOf(AssertionError.class)
                    .hasMessageContaining("GET /v1/gateway?x=1 -> 200: the response breaks");
            assertThat(seen).hasSize(1);

            // The request's body, read from its publisher, has a property the schema does not allow; and the
            // server took it.
            HttpRequest create = HttpRequest.newBuilder(base.resolve("/v1/accounts"))
                    .header("authorization", "Bearer upk_0123456789abcdef")
                    .header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"acme\",\"colour\":\"red\"}"))
                    .build();
            assertThatThrownBy(() -> http.send(create, HttpResponse.BodyHandlers.ofString()))
                    .isInstanceOf(AssertionError.class)
                    .hasMessageContaining("the request breaks the API's contract, yet the API answered 201")
                    .hasMessageContaining("colour");
            assertThat(seen).hasSize(2);

            // A response the checker cannot see is a failure, not a pass.
            assertThatThrownBy(() -> http.send(gateway, HttpResponse.BodyHandlers.discarding()))
                    .isInstanceOf(AssertionError.class)
                    .hasMessageContaining("cannot check a response body");
        } finally {
            server.stop(0);
        }
    }
}
