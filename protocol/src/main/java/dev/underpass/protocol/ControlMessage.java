package dev.underpass.protocol;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import java.util.List;
import java.util.Objects;

/**
 * The control messages of an agent session, one JSON object per line on the session stream.
 * Every message names who sends it and when; docs/protocol.md has the same list.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = ControlMessage.Advertise.class, name = "advertise"),
    @JsonSubTypes.Type(value = ControlMessage.Open.class, name = "open"),
    @JsonSubTypes.Type(value = ControlMessage.DialFailed.class, name = "dialFailed"),
})
public sealed interface ControlMessage {

    /**
     * Agent to gateway, first on the session: the targets this agent may reach. The gateway asks
     * only for these; a later advertise replaces the list.
     */
    record Advertise(String agentVersion, List<String> targets) implements ControlMessage {
        public Advertise {
            targets = List.copyOf(Objects.requireNonNull(targets, "targets"));
        }
    }

    /**
     * Gateway to agent, once per consumer connection: dial {@code target} and open a data
     * stream carrying {@code connection} in its headers.
     */
    record Open(@JsonProperty(required = true) long connection, String target) implements ControlMessage {
        public Open {
            Objects.requireNonNull(target, "target");
        }
    }

    /**
     * Agent to gateway, instead of a data stream, when {@code connection} cannot be
     * completed: the consumer connection is closed and the reason logged.
     */
    record DialFailed(@JsonProperty(required = true) long connection, DialError error, String detail)
            implements ControlMessage {
        public DialFailed {
            Objects.requireNonNull(error, "error");
        }
    }
}
