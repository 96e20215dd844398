package dev.underpass.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.protocol.HostAndPort;
import org.junit.jupiter.api.Test;

/** The gateway's list of nodes in a session answer: what parses is kept in order, the rest is left out. */
class NodeListTest {
    @Test
    void nodesParseInOrderAndWhatIsNotHostAndPortIsLeftOut() {
        assertThat(GatewayLink.parseNodes("127.0.0.2:8443, gw-2.example.com:8443,[::1]:8443,junk, :1"))
                .containsExactly(
                        new HostAndPort("127.0.0.2", 8443),
                        new HostAndPort("gw-2.example.com", 8443),
                        HostAndPort.parse("[::1]:8443"));
        assertThat(GatewayLink.parseNodes("")).isEmpty();
    }
}
