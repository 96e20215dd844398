package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
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
            assertThatThrownBy(() -> c.convert(bad)).as(bad).isInstanceOf(TypeConversionException.class)
                    .hasMessageContaining("expected: a number and a unit");
        }
    }

    @Test
    void listenersArePortEqualsTargets() {
        ListenerConverter c = new ListenerConverter();
        assertThat(c.convert("22=git:22, git2:22").toString()).isEqualTo("{\"port\":22,\"targets\":[\"git:22\",\"git2:22\"]}");
        for (String bad : new String[] {"git:22", "=git:22", "22=", "x=git:22", "22=git:22,,git2:22"}) {
            assertThatThrownBy(() -> c.convert(bad)).as(bad).isInstanceOf(TypeConversionException.class)
                    .hasMessageContaining("expected: PORT=HOST:PORT");
        }
    }

    @Test
    void tableColumnsAlignOnTheWidestCellWithoutTrailingBlanks() {
        StringWriter s = new StringWriter();
        Table.of("ID", "STATE").row("ep-1", "available").row("ep-long-id", null).print(new PrintWriter(s, true));
        assertThat(s.toString().lines()).containsExactly(
                "ID           STATE",
                "ep-1         available",
                "ep-long-id   -");
    }
}
