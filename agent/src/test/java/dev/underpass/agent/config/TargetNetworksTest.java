package dev.underpass.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class TargetNetworksTest {
    @Test
    void malformedNetworksAreNamedWithWhatIsExpected() {
        assertThat(TargetNetworks.validate(
                        List.of("10.0.0.0/8", "10.0.0.0", "git.corp/24", "10.0.0.0/33", "fd00::/48")))
                .containsExactly(
                        "targetNetworks[1]: 10.0.0.0 (expected: a CIDR block such as 10.20.0.0/16 or fd00:1234::/48)",
                        "targetNetworks[2]: git.corp/24 (expected: a CIDR block such as 10.20.0.0/16 or fd00:1234::/48)",
                        "targetNetworks[3]: 10.0.0.0/33 (expected: a CIDR block such as 10.20.0.0/16 or fd00:1234::/48)");
    }
}
