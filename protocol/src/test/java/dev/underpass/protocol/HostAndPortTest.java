package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HostAndPortTest {

    @Test
    void parsesHostAndPort() {
        HostAndPort a = HostAndPort.parse("db.internal:5432");
        assertThat(a.host()).isEqualTo("db.internal");
        assertThat(a.port()).isEqualTo(5432);
        assertThat(a).hasToString("db.internal:5432");
    }

    @Test
    void parsesIpv4LiteralAndTrimsSurroundingWhiteSpace() {
        HostAndPort a = HostAndPort.parse("  10.0.0.7:22 ");
        assertThat(a.host()).isEqualTo("10.0.0.7");
        assertThat(a.port()).isEqualTo(22);
    }

    @Test
    void parsesBracketedIpv6AndPrintsItBackInBrackets() {
        HostAndPort a = HostAndPort.parse("[fd00::1]:443");
        assertThat(a.host()).isEqualTo("fd00::1");
        assertThat(a.port()).isEqualTo(443);
        assertThat(a).hasToString("[fd00::1]:443");
        assertThat(HostAndPort.parse(a.toString())).isEqualTo(a);
    }

    @Test
    void hostNamesCompareCaseInsensitively() {
        HostAndPort upper = HostAndPort.parse("GIT.Example.COM:22");
        HostAndPort lower = HostAndPort.parse("git.example.com:22");
        assertThat(upper).isEqualTo(lower).hasSameHashCodeAs(lower);
        assertThat(upper.host()).isEqualTo("git.example.com");
        assertThat(HostAndPort.parse("[FD00::A]:1")).isEqualTo(HostAndPort.parse("[fd00::a]:1"));
        assertThat(upper).isNotEqualTo(HostAndPort.parse("git.example.com:23"));
    }

    @Test
    void acceptsTheWholePortRange() {
        assertThat(HostAndPort.parse("h:0").port()).isZero();
        assertThat(HostAndPort.parse("h:65535").port()).isEqualTo(65535);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "db.internal", // no port
                "db.internal:", // empty port
                ":5432", // no host
                "db.internal:abc", // non-numeric port
                "db.internal:5432x", // trailing garbage
                "db.internal:70000", // port out of range
                "db.internal:65536", // one past the range
                "db.internal:-1", // negative port
                "fd00::1:443", // bare IPv6 without brackets
                "::1", // bare IPv6, no port at all
                "[fd00::1]", // brackets, no port
                "[]:80", // empty bracketed host
                "[ ]:80", // blank bracketed host
                "", // nothing
            })
    void rejectsWithAMessageNamingTheInput(String text) {
        assertThatThrownBy(() -> HostAndPort.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + text + "'")
                .hasMessageContaining("expected");
    }

    @Test
    void bareIpv6IsExplainedAsNeedingBrackets() {
        assertThatThrownBy(() -> HostAndPort.parse("fd00::1:443")).hasMessageContaining("[ipv6]:port");
    }

    @Test
    void parseDialableRejectsPortZero() {
        assertThatThrownBy(() -> HostAndPort.parseDialable("db.internal:0"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'db.internal:0'")
                .hasMessageContaining("1-65535");
        assertThat(HostAndPort.parseDialable("db.internal:1").port()).isEqualTo(1);
    }

    @Test
    void parseDialableRejectsWhatParseRejects() {
        assertThatThrownBy(() -> HostAndPort.parseDialable("db.internal"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'db.internal'");
    }

    @Test
    void constructorRejectsBlankHostAndBadPort() {
        assertThatThrownBy(() -> new HostAndPort(" ", 80))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("host");
        assertThatThrownBy(() -> new HostAndPort("h", 65536))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("65536");
        assertThatThrownBy(() -> new HostAndPort(null, 80)).isInstanceOf(NullPointerException.class);
    }
}
