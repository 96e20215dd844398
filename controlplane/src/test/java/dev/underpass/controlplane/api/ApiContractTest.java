package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.http.HttpHeaders;
import java.util.List;
import java.util.Map;
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
}
