package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import java.io.InputStream;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The OpenAPI document served at /v1/openapi.yaml describes exactly the router's routes. */
class OpenApiDocumentTest {
    private static final Set<String> METHODS =
            Set.of("get", "put", "post", "delete", "options", "head", "patch", "trace");

    @Test
    void documentsEveryRouteWithItsSuccessStatusAndNothingElse() throws Exception {
        List<Router.Route> routes;
        try (Store store = Store.open(StoreConfig.inMemory("openapi-test"))) {
            routes = Routes.of(new ControlPlane(
                            store,
                            new ControlPlane.Settings(
                                    ControlPlane.Settings.DEFAULT_DOMAIN,
                                    "127.0.0.1",
                                    ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                                    null)))
                    .routes();
        }
        JsonNode doc;
        try (InputStream in = Routes.class.getResourceAsStream(Routes.OPENAPI_RESOURCE)) {
            assertThat(in).as(Routes.OPENAPI_RESOURCE).isNotNull();
            doc = new ObjectMapper(new YAMLFactory()).readTree(in);
        }
        assertThat(doc.path("openapi").asText()).startsWith("3.1");

        Map<String, JsonNode> documented = new TreeMap<>();
        for (Map.Entry<String, JsonNode> path : doc.path("paths").properties()) {
            for (Map.Entry<String, JsonNode> op : path.getValue().properties()) {
                if (METHODS.contains(op.getKey())) { // not path-level parameters
                    documented.put(op.getKey() + " " + path.getKey(), op.getValue());
                }
            }
        }
        Map<String, Router.Route> routed = new TreeMap<>();
        routes.forEach(r -> routed.put(r.method().toLowerCase(Locale.ROOT) + " " + r.template(), r));
        assertThat(routed).as("routes are unique").hasSameSizeAs(routes);
        assertThat(documented.keySet())
                .as("documented operations vs routes")
                .containsExactlyInAnyOrderElementsOf(routed.keySet());

        Set<String> operationIds = new HashSet<>();
        routed.forEach((key, route) -> {
            JsonNode op = documented.get(key);
            String operationId = op.path("operationId").asText();
            assertThat(operationId).as("operationId of %s", key).isNotBlank();
            assertThat(operationIds.add(operationId))
                    .as("operationId %s of %s is unique", operationId, key)
                    .isTrue();
            List<String> success = op.path("responses").properties().stream()
                    .map(Map.Entry::getKey)
                    .filter(code -> code.startsWith("2"))
                    .toList();
            assertThat(success).as("success statuses of %s", key).containsExactly(String.valueOf(route.status()));
            JsonNode security = op.path("security");
            if (route.authenticated()) {
                assertThat(security.isMissingNode())
                        .as("%s uses the global bearerAuth", key)
                        .isTrue();
                assertThat(op.path("responses").has("401"))
                        .as("%s documents 401", key)
                        .isTrue();
                assertThat(op.path("responses").path("429").path("$ref").asText())
                        .as("%s documents 429", key)
                        .isEqualTo("#/components/responses/TooManyFailedAttempts");
            } else {
                assertThat(security.isArray() && security.isEmpty())
                        .as("%s has security: []", key)
                        .isTrue();
            }
        });
    }
}
