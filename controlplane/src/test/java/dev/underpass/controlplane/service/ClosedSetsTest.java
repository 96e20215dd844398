package dev.underpass.controlplane.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.api.Json;
import org.junit.jupiter.api.Test;

/** The service package's closed sets read and write exactly the spellings the API and the store have. */
class ClosedSetsTest {
    @Test
    void healthCheckProtocolsAreKnownInLowercaseOnly() {
        for (HealthCheckProtocol p : HealthCheckProtocol.values()) {
            assertThat(HealthCheckProtocol.of(p.text())).contains(p);
        }
        // Requests are lowercased before parsing; the stored and written form is lowercase.
        assertThat(HealthCheckProtocol.of("HTTP")).isEmpty();
        assertThat(HealthCheckProtocol.of("ftp")).isEmpty();
        assertThat(HealthCheckProtocol.of(null)).isEmpty();
        assertThat(Json.MAPPER.valueToTree(HealthCheckProtocol.HTTPS).asText()).isEqualTo("https");
        assertThat(HealthCheckProtocol.values())
                .filteredOn(HealthCheckProtocol::sendsRequest)
                .containsExactly(HealthCheckProtocol.HTTP, HealthCheckProtocol.HTTPS);
        assertThat(HealthCheck.DEFAULT.protocol()).isEqualTo("tcp");
    }

    @Test
    void privateNameStatesReadOnlyTheirStoredSpellings() {
        assertThat(PrivateNameState.parse("pendingVerification")).isEqualTo(PrivateNameState.PENDING_VERIFICATION);
        assertThat(PrivateNameState.parse("verified")).isEqualTo(PrivateNameState.VERIFIED);
        assertThat(PrivateNameState.parse("failed")).isEqualTo(PrivateNameState.FAILED);
        assertThatThrownBy(() -> PrivateNameState.parse("Verified"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'Verified'");
        assertThatThrownBy(() -> PrivateNameState.parse(null)).isInstanceOf(IllegalArgumentException.class);
        assertThat(Json.MAPPER
                        .valueToTree(PrivateNameState.PENDING_VERIFICATION)
                        .asText())
                .isEqualTo("pendingVerification");
    }

    @Test
    void targetHealthIsWrittenAsTheApiHasIt() {
        assertThat(HealthState.values())
                .extracting(v -> Json.MAPPER.valueToTree(v).asText())
                .containsExactly("healthy", "unhealthy", "initial", "draining", "unavailable");
    }
}
