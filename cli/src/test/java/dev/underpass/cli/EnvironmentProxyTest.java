package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class EnvironmentProxyTest {
    private static final String PROXY = "http://proxy.corp:3128";
    private static final String HOST = "gw.example.com";

    @Test
    void noProxyVariableMeansNoProxy() {
        assertThat(EnvironmentProxy.forHost(HOST, Map.of())).isNull();
        assertThat(EnvironmentProxy.forHost(HOST, Map.of("HTTP_PROXY", PROXY)))
                .as("only HTTPS_PROXY counts")
                .isNull();
    }

    @Test
    void upperAndLowerCaseVariablesAreRead() {
        assertThat(EnvironmentProxy.forHost(HOST, Map.of("HTTPS_PROXY", PROXY))).isEqualTo(PROXY);
        assertThat(EnvironmentProxy.forHost(HOST, Map.of("https_proxy", PROXY))).isEqualTo(PROXY);
    }

    @Test
    void upperCaseWinsWhenBothAreSet() {
        assertThat(EnvironmentProxy.forHost(HOST, Map.of("HTTPS_PROXY", PROXY, "https_proxy", "http://other:8080")))
                .isEqualTo(PROXY);
    }

    @Test
    void emptyProxyMeansNoProxy() {
        assertThat(EnvironmentProxy.forHost(HOST, Map.of("HTTPS_PROXY", ""))).isNull();
        assertThat(EnvironmentProxy.forHost(HOST, Map.of("HTTPS_PROXY", "  "))).isNull();
    }

    @Test
    void noProxyExactHost() {
        assertThat(forHost(HOST, "gw.example.com")).isNull();
        assertThat(forHost("GW.Example.COM", "gw.example.com"))
                .as("case-insensitive")
                .isNull();
        assertThat(forHost(HOST, "GW.EXAMPLE.COM")).as("case-insensitive").isNull();
        assertThat(forHost(HOST, "other.example.com")).isEqualTo(PROXY);
    }

    @Test
    void noProxyDomainSuffixWithoutLeadingDot() {
        assertThat(forHost(HOST, "example.com")).isNull();
        assertThat(forHost("example.com", "example.com")).isNull();
        assertThat(forHost("a.b.example.com", "example.com")).isNull();
        // A suffix matches at a label boundary only.
        assertThat(forHost("badexample.com", "example.com")).isEqualTo(PROXY);
        assertThat(forHost("gw.notexample.com", "example.com")).isEqualTo(PROXY);
    }

    @Test
    void noProxyDomainSuffixWithLeadingDot() {
        assertThat(forHost(HOST, ".example.com")).isNull();
        assertThat(forHost("example.com", ".example.com")).isNull();
        assertThat(forHost("badexample.com", ".example.com")).isEqualTo(PROXY);
    }

    @Test
    void noProxyWildcardDomain() {
        assertThat(forHost(HOST, "*.example.com")).isNull();
        assertThat(forHost("badexample.com", "*.example.com")).isEqualTo(PROXY);
    }

    @Test
    void noProxyStarMatchesEverything() {
        assertThat(forHost(HOST, "*")).isNull();
        assertThat(forHost("10.0.0.1", "*")).isNull();
    }

    @Test
    void noProxyListWithSpacesAndEmptyEntries() {
        assertThat(forHost(HOST, "localhost, ,127.0.0.1,  example.com ")).isNull();
        assertThat(forHost(HOST, "localhost,,127.0.0.1")).isEqualTo(PROXY);
        assertThat(forHost(HOST, "")).isEqualTo(PROXY);
    }

    @Test
    void lowerCaseNoProxyIsReadToo() {
        assertThat(EnvironmentProxy.forHost(HOST, Map.of("HTTPS_PROXY", PROXY, "no_proxy", "example.com")))
                .isNull();
    }

    @Test
    void nonMatchingHostsKeepTheProxy() {
        assertThat(forHost("10.0.0.1", "10.0.0.2,example.org,.example.net")).isEqualTo(PROXY);
        assertThat(forHost("example.com.evil.net", "example.com")).isEqualTo(PROXY);
    }

    private static String forHost(String host, String noProxy) {
        return EnvironmentProxy.forHost(host, Map.of("HTTPS_PROXY", PROXY, "NO_PROXY", noProxy));
    }
}
