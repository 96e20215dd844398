package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** How {@code underpass test --tls} decides whether a target's certificate covers the name it was asked by. */
class CertificateNameTest {
    @Test
    void aNameIsCoveredExactlyOrByAWildcardForOneLeftmostLabel() {
        assertThat(ConnectionChecks.matches("github.acme.test", "GitHub.Acme.Test"))
                .isTrue();
        assertThat(ConnectionChecks.matches("*.acme.test", "github.acme.test")).isTrue();
        assertThat(ConnectionChecks.matches("*.acme.test", "a.b.acme.test")).isFalse();
        assertThat(ConnectionChecks.matches("*.acme.test", "acme.test")).isFalse();
        // Issue 12: the README's HTTPS example named the endpoint's generated name, which the service's certificate
        // lacks.
        assertThat(ConnectionChecks.matches("github.acme.test", "ep-0123456789abcdef.endpoints.underpass.internal"))
                .isFalse();
    }
}
