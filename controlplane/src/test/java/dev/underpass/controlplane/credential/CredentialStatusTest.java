package dev.underpass.controlplane.credential;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.api.Json;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** What a credential's and an enrollment token's times make of their status, and how the API writes it. */
class CredentialStatusTest {
    static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    @Test
    void aRevocationWinsOverAnExpiryAndAnExpiryAtNowHasPassed() {
        assertThat(CredentialStatus.of(null, null, NOW)).isEqualTo(CredentialStatus.ACTIVE);
        assertThat(CredentialStatus.of(null, NOW.plusSeconds(1), NOW)).isEqualTo(CredentialStatus.ACTIVE);
        assertThat(CredentialStatus.of(null, NOW, NOW)).isEqualTo(CredentialStatus.EXPIRED);
        assertThat(CredentialStatus.of(NOW.minusSeconds(5), NOW.minusSeconds(1), NOW))
                .isEqualTo(CredentialStatus.REVOKED);
        assertThat(CredentialStatus.values())
                .extracting(v -> Json.MAPPER.valueToTree(v).asText())
                .containsExactly("active", "expired", "revoked");
    }

    @Test
    void aUsedTokenStaysUsedAfterItsExpiry() {
        assertThat(EnrollmentStatus.of(null, NOW.plusSeconds(1), NOW)).isEqualTo(EnrollmentStatus.PENDING);
        assertThat(EnrollmentStatus.of(null, NOW, NOW)).isEqualTo(EnrollmentStatus.EXPIRED);
        assertThat(EnrollmentStatus.of(NOW.minusSeconds(1), NOW, NOW)).isEqualTo(EnrollmentStatus.USED);
        assertThat(EnrollmentStatus.values())
                .extracting(v -> Json.MAPPER.valueToTree(v).asText())
                .containsExactly("pending", "used", "expired");
    }
}
