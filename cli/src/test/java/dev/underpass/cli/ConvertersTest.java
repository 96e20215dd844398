package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

/** The small parsers and the table layout. */
class ConvertersTest {
    @Test
    void durationsTakeAUnitOrIso() {
        DurationConverter c = new DurationConverter();
        assertThat(c.convert("90d")).isEqualTo(Duration.ofDays(90));
        assertThat(c.convert("12h")).isEqualTo(Duration.ofHours(12));
        assertThat(c.convert("30m")).isEqualTo(Duration.ofMinutes(30));
        assertThat(c.convert("0s")).isEqualTo(Duration.ZERO);
        assertThat(c.convert("PT1H30M")).isEqualTo(Duration.ofMinutes(90));
        for (String bad : new String[] {"3y", "-1h", "h", "1.5h", "PT-1H"}) {
            assertThatThrownBy(() -> c.convert(bad))
                    .as(bad)
                    .isInstanceOf(TypeConversionException.class)
                    .hasMessageContaining("expected: a number and a unit");
        }
    }

    @Test
    void listenersArePortEqualsTargets() {
        ListenerConverter c = new ListenerConverter();
        assertThat(c.convert("22=git:22, git2:22").toString())
                .isEqualTo("{\"port\":22,\"targets\":[\"git:22\",\"git2:22\"]}");
        for (String bad : new String[] {"git:22", "=git:22", "22=", "x=git:22", "22=git:22,,git2:22"}) {
            assertThatThrownBy(() -> c.convert(bad))
                    .as(bad)
                    .isInstanceOf(TypeConversionException.class)
                    .hasMessageContaining("expected: PORT=HOST:PORT");
        }
    }

    @Test
    void healthChecksArePortEqualsProtocolPathAndSettings() {
        HealthCheckConverter c = new HealthCheckConverter();
        assertThat(c.convert("22=tcp")).hasToString("PortCheck[port=22, check={\"protocol\":\"tcp\"}]");
        assertThat(c.convert("443=https:/healthz,interval=5,matcher=200-299")
                        .check()
                        .toString())
                .isEqualTo(
                        "{\"protocol\":\"https\",\"path\":\"/healthz\",\"intervalSeconds\":5,\"matcher\":\"200-299\"}");
        assertThat(c.convert("80=HTTP:/a?b=1,matcher=200,204,301-302,timeout=2,healthy=4,unhealthy=1")
                        .check()
                        .toString())
                .isEqualTo(
                        "{\"protocol\":\"HTTP\",\"path\":\"/a?b=1\",\"matcher\":\"200,204,301-302\",\"timeoutSeconds\":2,"
                                + "\"healthyThreshold\":4,\"unhealthyThreshold\":1}");
        // The values are the gateway's to judge: a path on a tcp check is sent as given, and refused there.
        assertThat(c.convert("22=tcp:/x,interval=0").check().toString())
                .isEqualTo("{\"protocol\":\"tcp\",\"path\":\"/x\",\"intervalSeconds\":0}");
        for (String bad :
                new String[] {"tcp", "=tcp", "x=tcp", "22=", "22=:/healthz", "22=tcp 1", "443=https/healthz"}) {
            assertThatThrownBy(() -> c.convert(bad))
                    .as(bad)
                    .isInstanceOf(TypeConversionException.class)
                    .hasMessage("'" + bad + "' (expected: " + HealthCheckConverter.FORMAT
                            + ", e.g. 443=https:/healthz,interval=5 or 22=tcp)");
        }
        assertThatThrownBy(() -> c.convert("22=tcp,weight=3"))
                .isInstanceOf(TypeConversionException.class)
                .hasMessage(
                        "'22=tcp,weight=3': unknown setting 'weight=3' (expected: interval, timeout, healthy, unhealthy or matcher, "
                                + "as KEY=VALUE)");
        assertThatThrownBy(() -> c.convert("22=tcp,5")).hasMessageContaining("unknown setting '5'");
        assertThatThrownBy(() -> c.convert("443=https:/a,b")).hasMessageContaining("unknown setting 'b'");
        assertThatThrownBy(() -> c.convert("22=tcp,interval=5s"))
                .isInstanceOf(TypeConversionException.class)
                .hasMessage("'22=tcp,interval=5s': interval=5s (expected: a whole number of seconds)");
        assertThatThrownBy(() -> c.convert("22=tcp,healthy="))
                .hasMessageContaining("healthy= (expected: a whole number " + "of checks)");
        assertThatThrownBy(() -> c.convert("22=tcp,timeout=1,timeout=2")).hasMessageContaining("timeout given twice");
    }
}
