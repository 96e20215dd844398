package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class ProtocolVersionsTest {
    @Test
    void theHighestVersionBothSpeakIsChosen() {
        assertThat(ProtocolVersions.choose(ProtocolVersions.parse("2, 1"), List.of(2, 1)))
                .isEqualTo(2);
        assertThat(ProtocolVersions.choose(ProtocolVersions.parse("1"), List.of(2, 1)))
                .isEqualTo(1);
        assertThat(ProtocolVersions.choose(ProtocolVersions.parse("3,2"), List.of(2, 1)))
                .isEqualTo(2);
    }

    @Test
    void noCommonVersionOrAnUnreadableOfferChoosesNothing() {
        assertThat(ProtocolVersions.choose(ProtocolVersions.parse("3"), List.of(2, 1)))
                .isZero();
        assertThat(ProtocolVersions.parse("2, x")).isEmpty();
        assertThat(ProtocolVersions.parse(null)).isEmpty();
        assertThat(ProtocolVersions.choose(ProtocolVersions.parse(""), List.of(2, 1)))
                .isZero();
    }

    @Test
    void formatsTheOfferNewestFirst() {
        assertThat(ProtocolVersions.format(Protocol.VERSIONS)).isEqualTo("3, 2, 1");
    }
}
