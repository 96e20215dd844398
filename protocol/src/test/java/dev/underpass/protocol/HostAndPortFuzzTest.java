package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Fuzzes {@link HostAndPort#parse}: addresses come from configuration, from agents' advertise
 * messages and from consumers' CONNECT lines. Seeds and regression inputs are under
 * {@code src/test/resources/dev/underpass/protocol/HostAndPortFuzzTestInputs/parse}; docs/fuzzing.md
 * says how to fuzz.
 */
class HostAndPortFuzzTest {

    /**
     * Any text either parses or is refused with an {@link IllegalArgumentException}; what parses
     * is a valid address whose written form parses back to the same address.
     */
    @FuzzTest
    void parse(byte[] input) {
        String text = new String(input, StandardCharsets.UTF_8);
        HostAndPort parsed;
        try {
            parsed = HostAndPort.parse(text);
        } catch (IllegalArgumentException refused) {
            return;
        }
        assertThat(parsed.host()).isNotBlank();
        assertThat(parsed.port()).isBetween(0, 65535);
        assertThat(HostAndPort.parse(parsed.toString()))
                .as("parse(toString()) of %s", parsed)
                .isEqualTo(parsed);
        if (parsed.port() > 0) {
            assertThat(HostAndPort.parseDialable(text)).isEqualTo(parsed);
        }
    }

    /**
     * Regression, found by fuzzing ({@code crash-*} inputs of {@link #parse}). Was a bug,
     * fixed in {@link HostAndPort#parse}: inside brackets any host is taken as it is, also
     * one that starts with a control character or holds brackets; its written form then parses
     * to another address ({@code [NUL 1]:43} prints {@code NUL 1:43}, which is host {@code 1},
     * since parse trims control characters; {@code [[x]]:1} is host {@code [x]}, printed
     * {@code [x]:1}, host {@code x}) or to none ({@code [NUL]:44} prints {@code NUL:44}, refused).
     * Either refusing such hosts or printing them back in brackets makes this pass.
     */
    @ParameterizedTest
    @ValueSource(strings = {"[\u00001]:43", "[\u0000]:44", "[\u0000[]]:4", "[[x]]:1"})
    void aBracketedHostIsRefusedOrPrintsBackToTheSameAddress(String text) {
        parse(text.getBytes(StandardCharsets.UTF_8));
    }
}
