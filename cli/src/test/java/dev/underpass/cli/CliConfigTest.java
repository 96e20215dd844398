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
        CliConfig c = stored.overriddenBy(Map.of(CliConfig.GATEWAY_ENV, "https://ci-gw:443", CliConfig.KEY_ENV, "upk_ci"));
        assertThat(c).isEqualTo(new CliConfig("https://ci-gw:443", "/etc/underpass/ca.pem", "upk_ci"));
        CliConfig ca = stored.overriddenBy(Map.of(CliConfig.CA_FILE_ENV, "ca.pem"));
        assertThat(ca.caFile()).isEqualTo(Path.of("ca.pem").toAbsolutePath().toString());
        assertThat(stored.overriddenBy(Map.of(CliConfig.KEY_ENV, ""))).isEqualTo(stored);
    }

    @Test
    void theEnvironmentAloneIsALogin() {
        CliConfig c = CliConfig.empty().overriddenBy(Map.of(CliConfig.GATEWAY_ENV, "https://gw:8443", CliConfig.KEY_ENV, "upk_x"));
        assertThat(c.requireLogin().gateway()).isEqualTo("https://gw:8443");
        assertThatThrownBy(() -> CliConfig.empty().requireLogin()).hasMessageContaining("not logged in");
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
            assertThatThrownBy(() -> CliConfig.gatewayUri(bad)).as(bad).hasMessageContaining("expected: https://HOST:PORT");
        }
    }
}
