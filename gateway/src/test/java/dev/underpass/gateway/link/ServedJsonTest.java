package dev.underpass.gateway.link;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * What a node's heartbeat says its agents serve, as the other nodes read it (a JSON column of the
 * shared store): nodes of the version before agent listeners write and read it unchanged.
 */
class ServedJsonTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<Map<String, AgentRegistry.Served>> SERVED = new TypeReference<>() {};

    @Test
    void withoutListenersItIsWrittenAsBeforeAndAnEarlierNodesListIsRead() throws Exception {
        String earlier = "{\"acme\":{\"targets\":{\"git.corp:22\":2},\"unhealthyChecks\":[\"c1\"]}}";
        Map<String, AgentRegistry.Served> read = JSON.readValue(earlier, SERVED);
        assertThat(read.get("acme").targets()).containsEntry("git.corp:22", 2);
        assertThat(read.get("acme").unhealthyChecks()).containsExactly("c1");
        assertThat(read.get("acme").listening()).isEmpty();
        assertThat(JSON.writeValueAsString(read)).isEqualTo(earlier);
    }

    @Test
    void listenersGoToTheOtherNodesAndFieldsOfALaterVersionAreIgnored() throws Exception {
        AgentRegistry.Listening open =
                new AgentRegistry.Listening("dc1", 7, "10.0.0.5:5432", "platform/db", 5432, true, null);
        AgentRegistry.Listening closed = new AgentRegistry.Listening(
                "dc1", 7, "10.0.0.5:8080", "ep-0123", 80, false, "no endpoint ep-0123 is available to this account");
        String written = JSON.writeValueAsString(
                Map.of("platform", new AgentRegistry.Served(Map.of(), Set.of(), List.of(open, closed))));
        Map<String, AgentRegistry.Served> read =
                JSON.readValue(written.replace("\"listening\"", "\"later\":1,\"listening\""), SERVED);
        assertThat(read.get("platform").listening()).containsExactly(open, closed);
        assertThat(open.isFor("ep-9", "platform/db")).isTrue();
        assertThat(closed.isFor("ep-0123", "platform/api")).isTrue();
        assertThat(closed.isFor("ep-9", "platform/db")).isFalse();
        assertThat(open.on("node-b").node()).isEqualTo("node-b");
    }
}
