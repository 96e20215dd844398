package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CliConfigTest {
    final CliConfig stored = new CliConfig("https://gw.example.com:8443", "/etc/underpass/ca.pem", "upk_stored");

    @Test
    void theEnvironmentOverridesEachStoredField() {
        CliConfig c =
                stored.overriddenBy(Map.of(CliConfig.GATEWAY_ENV, "https://ci-gw:443", CliConfig.KEY_ENV, "upk_ci"));
        assertThat(c).isEqualTo(new CliConfig("https://ci-gw:443", "/etc/underpass/ca.pem", "upk_ci"));
        CliConfig ca = stored.overriddenBy(Map.of(CliConfig.CA_FILE_ENV, "ca.pem"));
        assertThat(ca.caFile()).isEqualTo(Path.of("ca.pem").toAbsolutePath().toString());
        assertThat(stored.overriddenBy(Map.of(CliConfig.KEY_ENV, ""))).isEqualTo(stored);
    }

    @Test
    void theEnvironmentAloneIsALogin() {
        CliConfig c = CliConfig.empty()
                .overriddenBy(Map.of(CliConfig.GATEWAY_ENV, "https://gw:8443", CliConfig.KEY_ENV, "upk_x"));
        assertThat(c.requireLogin().gateway()).isEqualTo("https://gw:8443");
        assertThatThrownBy(() -> CliConfig.empty().requireLogin()).hasMessageContaining("not logged in");
    }

    @Test
    void anOidcTokenFileAndAccountInTheEnvironmentReplaceTheStoredKey() {
        CliConfig c =
                stored.overriddenBy(Map.of(CliConfig.OIDC_TOKEN_FILE_ENV, "token.jwt", CliConfig.ACCOUNT_ENV, "acme"));
        assertThat(c)
                .isEqualTo(new CliConfig(
                        "https://gw.example.com:8443",
                        "/etc/underpass/ca.pem",
                        null,
                        Path.of("token.jwt").toAbsolutePath().toString(),
                        "acme"));
        assertThat(c.oidc()).isTrue();
        assertThat(c.requireLogin()).isSameAs(c);

        // Never the stored account of another login: the environment names its own.
        CliConfig storedOidc = new CliConfig("https://gw:8443", null, null, "/run/token", "globex");
        assertThatThrownBy(() -> storedOidc
                        .overriddenBy(Map.of(CliConfig.OIDC_TOKEN_FILE_ENV, "/ci/token"))
                        .requireLogin())
                .hasMessageContaining("without an account to log in to")
                .hasMessageContaining(CliConfig.ACCOUNT_ENV);
        assertThat(storedOidc
                        .overriddenBy(Map.of(CliConfig.ACCOUNT_ENV, "acme"))
                        .account())
                .isEqualTo("acme");
        assertThat(storedOidc.overriddenBy(Map.of(CliConfig.KEY_ENV, "upk_ci")))
                .isEqualTo(new CliConfig("https://gw:8443", null, "upk_ci"));
        assertThat(stored.overriddenBy(Map.of(CliConfig.ACCOUNT_ENV, "acme")))
                .as("a key names its account")
                .isEqualTo(stored);

        assertThatThrownBy(() -> CliConfig.empty()
                        .overriddenBy(Map.of(CliConfig.KEY_ENV, "upk_x", CliConfig.OIDC_TOKEN_FILE_ENV, "/t")))
                .hasMessageContaining("UNDERPASS_API_KEY and UNDERPASS_LOGIN_TOKEN_FILE are both set");
        assertThat(CliConfig.empty()
                        .overriddenBy(Map.of(
                                CliConfig.GATEWAY_ENV,
                                "https://gw:8443",
                                CliConfig.OIDC_TOKEN_FILE_ENV,
                                "/t",
                                CliConfig.ACCOUNT_ENV,
                                "acme"))
                        .requireLogin()
                        .oidc())
                .isTrue();
    }

    @Test
    void anOidcLoginIsStoredAndReadBack(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        CliConfig oidc = new CliConfig("https://gw:8443", "/ca.pem", null, "/run/token", "acme");
        oidc.save(dir);
        assertThat(CliConfig.load(dir)).isEqualTo(oidc);
        assertThat(java.nio.file.Files.readString(dir.resolve(CliConfig.FILE_NAME)))
                .doesNotContain("\"oidc\"");
        assertThat(oidc.withoutCredential()).isEqualTo(new CliConfig("https://gw:8443", "/ca.pem", null));
        new CliConfig("https://gw:8443", null, "upk_k").save(dir);
        assertThat(CliConfig.load(dir)).isEqualTo(new CliConfig("https://gw:8443", null, "upk_k"));
    }

    @Test
    void toStringNeverShowsTheKey() {
        assertThat(stored.toString()).doesNotContain("upk_stored").contains("key=(set)");
    }

    @Test
    void theGatewayMustBeHttpsWithoutAPath() {
        assertThat(CliConfig.gatewayUri("https://gw:8443/").toString()).isEqualTo("https://gw:8443");
        assertThat(CliConfig.gatewayUri("https://[::1]:8443").toString()).isEqualTo("https://[::1]:8443");
        for (String bad : new String[] {"http://gw:8443", "gw:8443", "https://gw:8443/v1", "https://user@gw"}) {
            assertThatThrownBy(() -> CliConfig.gatewayUri(bad))
                    .as(bad)
                    .hasMessageContaining("expected: https://HOST:PORT");
        }
    }
}
