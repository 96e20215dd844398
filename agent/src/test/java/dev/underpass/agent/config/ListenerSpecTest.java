package dev.underpass.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.protocol.HostAndPort;
import java.util.List;
import org.junit.jupiter.api.Test;

class ListenerSpecTest {
    @Test
    void parsesAddressEndpointAndServicePort() {
        ListenerSpec l = ListenerSpec.parse(" 10.0.0.5:5432 ->  ep-0123456789abcdef:5432 ");
        assertThat(l.address()).isEqualTo(HostAndPort.parse("10.0.0.5:5432"));
        assertThat(l.endpoint()).isEqualTo("ep-0123456789abcdef");
        assertThat(l.servicePort()).isEqualTo(5432);
        assertThat(l.key()).isEqualTo("ep-0123456789abcdef:5432");
        assertThat(ListenerSpec.parse("[::1]:80->ep-a:443").address()).isEqualTo(HostAndPort.parse("[::1]:80"));
        ListenerSpec byService = ListenerSpec.parse("127.0.0.1:15432 -> platform/db:5432");
        assertThat(byService.endpoint()).isEqualTo("platform/db");
        assertThat(byService.key()).isEqualTo("platform/db:5432");
    }

    @Test
    void refusesWhatIsNotAListenerWithWhatWasExpected() {
        for (String bad : List.of(
                "10.0.0.5:5432",
                "10.0.0.5:5432 -> Acme/DB:5432",
                "10.0.0.5:5432 -> acme/db/x:5432",
                "10.0.0.5:5432 -> ep-x",
                "10.0.0.5:5432 -> ep-x:70000",
                "10.0.0.5 -> ep-x:1",
                "10.0.0.5:5432 -> ep-x\n:1")) {
            assertThatThrownBy(() -> ListenerSpec.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aConfigWithListenersNeedsNoTargetAndReportsBadOnesByIndex() {
        AgentConfig ok = config(List.of("127.0.0.1:15432 -> ep-abc:5432"));
        assertThat(ok.validate()).isEmpty();
        assertThat(ok.listeners()).hasSize(1);
        AgentConfig bad = config(List.of("127.0.0.1:15432 -> ep-abc:5432", "nonsense", "127.0.0.1:15432 -> ep-def:1"));
        assertThat(bad.validate())
                .anySatisfy(e -> assertThat(e).startsWith("listen[1]: nonsense (expected: ADDRESS -> ENDPOINT:PORT"))
                .anySatisfy(e -> assertThat(e).startsWith("listen[2]:").contains("each address once"));
    }

    private static AgentConfig config(List<String> listen) {
        return new AgentConfig(
                "gw.example:8443",
                "a",
                "upa_" + "x".repeat(43),
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                List.of(),
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                listen);
    }
}
