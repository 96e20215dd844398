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
    @JsonSubTypes.Type(value = ControlMessage.HealthChecks.class, name = "healthChecks"),
    @JsonSubTypes.Type(value = ControlMessage.Health.class, name = "health"),
    @JsonSubTypes.Type(value = ControlMessage.Drain.class, name = "drain"),
    @JsonSubTypes.Type(value = ControlMessage.Draining.class, name = "draining"),
    @JsonSubTypes.Type(value = ControlMessage.Listeners.class, name = "listeners"),
})
public sealed interface ControlMessage {

    /**
     * Agent to gateway, first on the session: the targets this agent may reach, and (version 3)
     * the agent listeners its file lists. The gateway asks only for these targets; a later
     * advertise replaces both lists. Older gateways ignore {@code listeners}.
     */
    record Advertise(String agentVersion, List<String> targets, List<Listener> listeners) implements ControlMessage {
        public Advertise {
            targets = List.copyOf(Objects.requireNonNull(targets, "targets"));
            listeners = listeners == null ? List.of() : List.copyOf(listeners);
        }

        public Advertise(String agentVersion, List<String> targets) {
            this(agentVersion, targets, List.of());
        }
    }

    /**
     * One agent listener: where the agent listens ({@code address}, for the gateway's views
     * only) and what it carries there, the endpoint {@code endpoint} (its id) at its service port
     * {@code port}. In the gateway's {@link Listeners} answer, {@code open} says whether the
     * endpoint takes connections now, and {@code reason} why not.
     */
    record Listener(
            String address,
            String endpoint,
            @JsonProperty(required = true) int port,
            Boolean open,
            String reason) {
        public Listener {
            Objects.requireNonNull(endpoint, "endpoint");
        }
    }

    /**
     * Gateway to agent (version 3): for each listener the agent advertised, whether it may take
     * connections now. Sent after the advertise and whenever that changes (an endpoint accepted,
     * rejected, deleted). An agent opens only listeners its own file lists, whatever this says.
     */
    record Listeners(List<Listener> listeners) implements ControlMessage {
        public Listeners {
            listeners = List.copyOf(Objects.requireNonNull(listeners, "listeners"));
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

    /**
     * Gateway to agent (version 2): the health checks this agent runs for its targets, replacing
     * the previous set. Sent after the agent's advertise and whenever the services change.
     */
    record HealthChecks(List<Check> checks) implements ControlMessage {
        public HealthChecks {
            checks = List.copyOf(Objects.requireNonNull(checks, "checks"));
        }
    }

    /**
     * One check: {@code protocol} is tcp, http, https or tls; {@code path} and {@code matcher}
     * (status codes such as {@code 200-399}) only for http and https.
     */
    record Check(
            String id,
            String target,
            String protocol,
            String path,
            String matcher,
            @JsonProperty(required = true) long intervalMillis,
            @JsonProperty(required = true) long timeoutMillis,
            @JsonProperty(required = true) int healthyThreshold,
            @JsonProperty(required = true) int unhealthyThreshold) {
        public Check {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(target, "target");
            Objects.requireNonNull(protocol, "protocol");
        }
    }

    /** Agent to gateway (version 2): check {@code check} changed its verdict, and why. */
    record Health(
            String check, @JsonProperty(required = true) boolean healthy, String reason) implements ControlMessage {
        public Health {
            Objects.requireNonNull(check, "check");
        }
    }

    /**
     * Agent to gateway (version 2): the agent is shutting down; send it no new connection. The
     * gateway answers {@link Draining} once no new connection can reach the agent any more.
     */
    record Drain(String reason) implements ControlMessage {}

    /**
     * Gateway to agent (version 2): nothing new follows it. The answer to {@link Drain}; or, with
     * {@code reconnectMillis}, unasked: the gateway itself is stopping (a restart, as a rule), and
     * asks the agent, once the link has closed, to try again every {@code reconnectMillis} (with
     * jitter) rather than after its growing backoff, so that it is back about that long after the
     * gateway is. Agents that do not know the member ignore it.
     */
    record Draining(Long reconnectMillis) implements ControlMessage {
        /** The answer to an agent's {@link Drain}. */
        public Draining() {
            this(null);
        }
    }
}
