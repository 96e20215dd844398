package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TransportTest {

    @Test
    void unsetOrBlankMeansOneThreadPerCore() {
        int cores = Runtime.getRuntime().availableProcessors();
        assertThat(Transport.threads(null)).isEqualTo(cores);
        assertThat(Transport.threads("")).isEqualTo(cores);
        assertThat(Transport.threads("   ")).isEqualTo(cores);
    }

    @Test
    void acceptsNumbersFromOneTo1024() {
        assertThat(Transport.threads("1")).isEqualTo(1);
        assertThat(Transport.threads(" 8 ")).isEqualTo(8);
        assertThat(Transport.threads("1024")).isEqualTo(1024);
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-1", "abc", "2000", "1025", "1.5", "99999999999"})
    void rejectsOtherValuesNamingTheVariable(String value) {
        assertThatThrownBy(() -> Transport.threads(value))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(Transport.THREADS_ENV)
                .hasMessageContaining(value)
                .hasMessageContaining("1-1024");
    }
}
