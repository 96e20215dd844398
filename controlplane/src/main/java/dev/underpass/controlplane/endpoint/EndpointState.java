package dev.underpass.controlplane.endpoint;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.underpass.controlplane.core.Refused;
import java.util.Map;
import java.util.Set;

/**
 * The life of an endpoint, as AWS PrivateLink has it: a connection request waits in
 * {@code pendingAcceptance}; accepted, it is {@code pending} until the gateway's listeners are
 * up, then {@code available}. {@code rejected}, {@code failed} and {@code expired} keep the
 * record until the consumer deletes it; {@code deleting} becomes {@code deleted} once the
 * listeners are closed.
 */
public enum EndpointState {
    PENDING_ACCEPTANCE("pendingAcceptance"),
    PENDING("pending"),
    AVAILABLE("available"),
    REJECTED("rejected"),
    FAILED("failed"),
    EXPIRED("expired"),
    DELETING("deleting"),
    DELETED("deleted");

    /** What moves an endpoint, and who may do it. */
    public enum Transition {
        /** The provider accepts a connection request. */
        ACCEPT,
        /** The provider rejects a request, or later an endpoint it had accepted. */
        REJECT,
        /** The gateway's listeners are up. */
        PROVISIONED,
        /** The gateway could not open the listeners. */
        PROVISIONING_FAILED,
        /** A connection request waited too long for the provider. */
        EXPIRE,
        /** The consumer deletes its endpoint. */
        DELETE,
        /** The gateway has closed the listeners of a deleting endpoint. */
        RELEASED
    }

    private static final Map<EndpointState, Map<Transition, EndpointState>> MOVES = Map.of(
            PENDING_ACCEPTANCE,
                    Map.of(
                            Transition.ACCEPT,
                            PENDING,
                            Transition.REJECT,
                            REJECTED,
                            Transition.EXPIRE,
                            EXPIRED,
                            Transition.DELETE,
                            DELETING),
            PENDING,
                    Map.of(
                            Transition.PROVISIONED,
                            AVAILABLE,
                            Transition.PROVISIONING_FAILED,
                            FAILED,
                            Transition.REJECT,
                            REJECTED,
                            Transition.DELETE,
                            DELETING),
            AVAILABLE, Map.of(Transition.REJECT, REJECTED, Transition.DELETE, DELETING),
            REJECTED, Map.of(Transition.DELETE, DELETING),
            FAILED, Map.of(Transition.DELETE, DELETING),
            EXPIRED, Map.of(Transition.DELETE, DELETING),
            DELETING, Map.of(Transition.RELEASED, DELETED),
            DELETED, Map.of());

    /** States in which the gateway keeps (or is opening) the endpoint's listeners. */
    public static final Set<EndpointState> LISTENING = Set.of(PENDING, AVAILABLE);

    private final String text;

    EndpointState(String text) {
        this.text = text;
    }

    /** The state {@code t} leads to from here, or null when it is not allowed. */
    public EndpointState after(Transition t) {
        return MOVES.get(this).get(t);
    }

    public Set<Transition> allowed() {
        return MOVES.get(this).keySet();
    }

    @JsonValue
    public String text() {
        return text;
    }

    @JsonCreator
    public static EndpointState parse(String text) {
        for (EndpointState s : values()) {
            if (s.text.equals(text)) {
                return s;
            }
        }
        throw Refused.invalid("unknown endpoint state '" + text + "' (expected one of: pendingAcceptance, "
                + "pending, available, rejected, failed, expired, deleting, deleted)");
    }

    @Override
    public String toString() {
        return text;
    }
}
