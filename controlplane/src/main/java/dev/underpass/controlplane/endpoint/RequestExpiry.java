package dev.underpass.controlplane.endpoint;

import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.endpoint.EndpointState.Transition;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.jdbi.v3.core.Jdbi;

/** Connection requests that the provider did not decide in time expire, moved by the gateway. */
final class RequestExpiry {
    private final Jdbi jdbi;
    private final Clock clock;
    private final EndpointMoves moves;

    RequestExpiry(Jdbi jdbi, Clock clock, EndpointMoves moves) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.moves = moves;
    }

    /** Expires connection requests older than {@code ttl}; returns how many. */
    int expire(Duration ttl) {
        Instant cutoff = clock.instant().minus(ttl);
        List<EndpointRows.Request> old = jdbi.withHandle(h -> EndpointRows.requestsBefore(h, cutoff));
        String reason = "the provider did not decide within "
                + ttl.toString().substring(2).toLowerCase();
        int expired = 0;
        for (EndpointRows.Request r : old) {
            // One transaction per request: a move locks audit chain heads, which must not stay locked while this
            // waits for the next endpoint's row (a provider's decision on it may hold that row and want the heads).
            expired += jdbi.inTransaction(h -> {
                if (EndpointRows.state(h, r.seq()) != EndpointState.PENDING_ACCEPTANCE) {
                    return 0; // decided meanwhile
                }
                try {
                    moves.move(h, r.seq(), r.id(), Transition.EXPIRE, Endpoints.GATEWAY, reason);
                    return 1;
                } catch (Refused raced) {
                    return 0; // decided between the read and the move
                }
            });
        }
        return expired;
    }
}
