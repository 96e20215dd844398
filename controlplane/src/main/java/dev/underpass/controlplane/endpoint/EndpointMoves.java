package dev.underpass.controlplane.endpoint;

import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.endpoint.EndpointState.Transition;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/**
 * Moves of an endpoint through {@link EndpointState}, each a compare-and-set on the state just
 * read, recorded as an event and in the audit chains of the consumer and the provider.
 */
final class EndpointMoves {
    private final Clock clock;
    private final AuditLog audit;

    EndpointMoves(Clock clock, AuditLog audit) {
        this.clock = clock;
        this.audit = audit;
    }

    /** A move made by principal {@code p} (the consumer or the provider). */
    EndpointState move(Handle h, long seq, String id, Transition t, Principal p, String reason) {
        return move(h, seq, id, t, p.actor(), p.accountSeq(), reason);
    }

    /** A move made by the gateway itself. */
    EndpointState move(Handle h, long seq, String id, Transition t, String gateway, String reason) {
        return move(h, seq, id, t, gateway, null, reason);
    }

    /**
     * Moves endpoint {@code seq} by {@code t} if its current state allows it, else refuses with
     * 409 naming the state; the update only succeeds on the state just read. {@code actorAccount}
     * is the account of the principal who moved it, null for the gateway.
     */
    private EndpointState move(
            Handle h, long seq, String id, Transition t, String actor, Long actorAccount, String reason) {
        Instant now = clock.instant();
        EndpointState from = EndpointRows.state(h, seq);
        EndpointState to = from.after(t);
        if (to == null) {
            throw Refused.conflict("endpoint " + id + " is " + from + ": it cannot be "
                    + verb(t) + " (allowed from " + from + ": "
                    + (from.allowed().isEmpty()
                            ? "nothing"
                            : from.allowed().stream()
                                    .map(EndpointMoves::verb)
                                    .sorted()
                                    .toList())
                    + ")");
        }
        if (!EndpointRows.compareAndSet(h, seq, from, to, reason, now)) {
            throw Refused.conflict("endpoint " + id + " changed meanwhile: it is now " + EndpointRows.state(h, seq)
                    + " (expected: " + from + "); look at it again and retry if still wanted");
        }
        EndpointRows.event(h, seq, from, to, actor, reason, now);
        record(h, seq, id, t, from, to, actor, actorAccount, reason);
        if (!EndpointState.LISTENING.contains(to)) {
            EndpointRows.releasePorts(h, seq);
        }
        return to;
    }

    private void record(
            Handle h,
            long seq,
            String id,
            Transition t,
            EndpointState from,
            EndpointState to,
            String actor,
            Long actorAccount,
            String reason) {
        EndpointRows.Sides sides = EndpointRows.sides(h, seq);
        long home = actorAccount != null ? actorAccount : sides.consumer();
        Long other = home == sides.consumer() ? sides.provider() : Long.valueOf(sides.consumer());
        String who = actorAccount == null ? AuditLog.SYSTEM : actor;
        String action = "endpoint."
                + switch (t) {
                    case ACCEPT -> "accept";
                    case REJECT -> "reject";
                    case PROVISIONED -> "provisioned";
                    case PROVISIONING_FAILED -> "provisioningFailed";
                    case EXPIRE -> "expire";
                    case DELETE -> "delete";
                    case RELEASED -> "released";
                };
        String outcome = t == Transition.PROVISIONING_FAILED ? "failed: " + reason : AuditLog.OK;
        Map<String, Object> details =
                Map.of("service", sides.ref(), "from", from.text(), "to", to.text(), "reason", reason);
        if (other == null) { // the service is gone: only the consumer is left to tell
            audit.record(h, home, who, action, "endpoint:" + id, outcome, details);
        } else {
            audit.record(h, home, other, who, action, "endpoint:" + id, outcome, details);
        }
    }

    private static String verb(Transition t) {
        return switch (t) {
            case ACCEPT -> "accepted";
            case REJECT -> "rejected";
            case PROVISIONED -> "made available";
            case PROVISIONING_FAILED -> "marked failed";
            case EXPIRE -> "expired";
            case DELETE -> "deleted";
            case RELEASED -> "released";
        };
    }
}
