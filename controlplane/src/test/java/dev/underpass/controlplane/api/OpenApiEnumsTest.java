package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.underpass.controlplane.credential.CredentialStatus;
import dev.underpass.controlplane.credential.EnrollmentStatus;
import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.service.HealthCheckProtocol;
import dev.underpass.controlplane.service.HealthState;
import dev.underpass.controlplane.service.LoadBalancing;
import dev.underpass.controlplane.service.PrivateNameState;
import dev.underpass.controlplane.service.WhenAllUnhealthy;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The OpenAPI document lists exactly the spellings the closed sets write, so neither drifts from the other. */
class OpenApiEnumsTest {
    static JsonNode schemas;

    @BeforeAll
    static void read() throws Exception {
        try (InputStream in = Routes.class.getResourceAsStream(Routes.OPENAPI_RESOURCE)) {
            schemas = new ObjectMapper(new YAMLFactory())
                    .readTree(in)
                    .path("components")
                    .path("schemas");
        }
    }

    static List<String> documented(String pointer) {
        JsonNode e = schemas.at(pointer);
        assertThat(e.isArray()).as("enum at %s", pointer).isTrue();
        List<String> values = new ArrayList<>();
        e.forEach(v -> values.add(v.asText()));
        return values;
    }

    /** Each value as the API writes it. */
    static List<String> written(Object... values) {
        return Arrays.stream(values)
                .map(v -> Json.MAPPER.valueToTree(v).asText())
                .toList();
    }

    @Test
    void closedSetsMatchTheDocument() {
        assertThat(documented("/CredentialStatus/enum"))
                .containsExactlyInAnyOrderElementsOf(written(CredentialStatus.values()));
        assertThat(documented("/AgentEnrollment/properties/status/enum"))
                .containsExactlyInAnyOrderElementsOf(written(EnrollmentStatus.values()));
        assertThat(documented("/HealthCheck/properties/protocol/enum"))
                .containsExactlyElementsOf(written(HealthCheckProtocol.values()));
        assertThat(documented("/PrivateDnsState/enum")).containsExactlyElementsOf(written(PrivateNameState.values()));
        assertThat(documented("/LoadBalancing/enum")).containsExactlyElementsOf(written(LoadBalancing.values()));
        assertThat(documented("/WhenAllUnhealthy/enum")).containsExactlyElementsOf(written(WhenAllUnhealthy.values()));
        assertThat(documented("/EndpointState/enum")).containsExactlyElementsOf(written(EndpointState.values()));
    }

    @Test
    void aTargetSumsUpWithoutDrainingAndAReportHasNoUnavailable() {
        assertThat(documented("/TargetHealth/properties/state/enum"))
                .containsExactlyInAnyOrderElementsOf(written((Object[]) without(HealthState.DRAINING)));
        assertThat(documented("/AgentHealthReport/properties/state/enum"))
                .containsExactlyInAnyOrderElementsOf(written((Object[]) without(HealthState.UNAVAILABLE)));
    }

    @Test
    void aVerificationEndsVerifiedOrFailed() {
        assertThat(documented("/PrivateDnsVerification/properties/state/enum"))
                .containsExactlyElementsOf(written(PrivateNameState.VERIFIED, PrivateNameState.FAILED));
    }

    private static HealthState[] without(HealthState left) {
        return Arrays.stream(HealthState.values()).filter(v -> v != left).toArray(HealthState[]::new);
    }
}
