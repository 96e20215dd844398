package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Fuzzes {@link ProtocolVersions#parse}, the {@code underpass-protocol} header an agent sends
 * before it is authenticated. Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/protocol/ProtocolVersionsFuzzTestInputs/parse}; how to
 * fuzz: docs/fuzzing.md.
 */
class ProtocolVersionsFuzzTest {

    /**
     * Any header value gives a list (empty when unreadable) and never throws; the list is
     * bounded, formats to a header that parses back to it, and choosing from it gives 0 or a
     * version both sides speak.
     */
    @FuzzTest
    void parse(byte[] input) {
        String header = new String(input, StandardCharsets.UTF_8);
        List<Integer> versions = ProtocolVersions.parse(header);
        assertThat(versions).isNotNull().hasSizeLessThanOrEqualTo(64).doesNotContainNull();
        assertThat(ProtocolVersions.parse(ProtocolVersions.format(versions)))
                .as("parse(format(%s))", versions)
                .isEqualTo(versions.isEmpty() ? List.of() : versions);
        int chosen = ProtocolVersions.choose(versions, Protocol.VERSIONS);
        assertThat(chosen == 0 || versions.contains(chosen) && Protocol.VERSIONS.contains(chosen))
                .as("chose %d from %s", chosen, versions)
                .isTrue();
    }
}
