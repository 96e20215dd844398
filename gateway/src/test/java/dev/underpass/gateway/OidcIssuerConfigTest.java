package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.gateway.auth.OidcIssuer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The operator's list of trusted OIDC issuers in the gateway configuration, and its validation. */
class OidcIssuerConfigTest {
    @TempDir
    Path dir;

    private GatewayConfig load(String yaml) throws IOException {
        return GatewayConfig.load(Files.writeString(dir.resolve("gateway.yaml"), yaml));
    }

    @Test
    void issuersLoadWithTheDefaultAudienceAndDiscoveryWhenNoJwksUriIsGiven() throws IOException {
        GatewayConfig c = load("""
                oidcIssuers:
                  - issuer: https://token.actions.githubusercontent.com
                    audience: https://github.com/acme
                  - issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/
                    jwksUri: https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/keys
                  - issuer: http://127.0.0.1:8080
                """);
        assertThat(c.validate()).isEmpty();
        assertThat(c.oidcIssuers()).hasSize(3);
        assertThat(c.oidcIssuers().get(0).audience()).isEqualTo("https://github.com/acme");
        assertThat(c.oidcIssuers().get(0).discoveryUri().toString())
                .isEqualTo("https://token.actions.githubusercontent.com/.well-known/openid-configuration");
        assertThat(c.oidcIssuers().get(1).discoveryUri().toString())
                .isEqualTo("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/.well-known/openid-configuration");
        assertThat(c.oidcIssuers().get(2).audience()).isEqualTo(OidcIssuer.DEFAULT_AUDIENCE);
        assertThat(GatewayConfig.defaults().oidcIssuers()).isEmpty();
    }

    @Test
    void everyBadIssuerIsReportedWithItsFieldPath() throws IOException {
        GatewayConfig c = load("""
                oidcIssuers:
                  - issuer: http://issuer.example.com
                  - jwksUri: https://issuer.example.com/keys
                  - issuer: https://a.example.com
                    jwksUri: ftp://a.example.com/keys
                    audience: ""
                  - issuer: https://a.example.com
                  - issuer: https://b.example.com?x=1
                  - issuer: http://localhost.evil.example.com
                """);
        assertThat(c.validate())
                .containsExactlyInAnyOrder(
                        "oidcIssuers[0].issuer: http://issuer.example.com (expected: an https:// URL without query or fragment "
                                + "(http:// only on loopback))",
                        "oidcIssuers[1].issuer: missing (expected: an https:// URL without query or fragment (http:// only on loopback))",
                        "oidcIssuers[2].jwksUri: ftp://a.example.com/keys (expected: an https:// URL without query or fragment "
                                + "(http:// only on loopback))",
                        "oidcIssuers[2].audience: '' (expected: the aud value JWTs carry for this gateway, 1-256 characters; "
                                + "default underpass)",
                        "oidcIssuers[3].issuer: https://a.example.com (expected: each issuer once)",
                        "oidcIssuers[4].issuer: https://b.example.com?x=1 (expected: an https:// URL without query or fragment "
                                + "(http:// only on loopback))",
                        "oidcIssuers[5].issuer: http://localhost.evil.example.com (expected: an https:// URL without query or "
                                + "fragment (http:// only on loopback))");
    }
}
