package dev.underpass.controlplane.api;

import dev.underpass.controlplane.core.Refused;
import java.util.Map;

/**
 * The one place where a domain refusal becomes HTTP: its status, its headers, its problem
 * document. Domain classes say only what kind of refusal it is ({@link Refused.Kind}); the API
 * (and the gateway, where it answers HTTP) asks here what that means on the wire.
 */
public final class ProblemMapper {
    private ProblemMapper() {}

    public static int status(Refused.Kind kind) {
        return switch (kind) {
            case INVALID -> 400;
            case UNAUTHENTICATED -> 401;
            case FORBIDDEN -> 403;
            case NOT_FOUND -> 404;
            case CONFLICT -> 409;
            case TOO_MANY_ATTEMPTS -> 429;
            case UNAVAILABLE -> 503;
        };
    }

    public static int status(Refused refused) {
        return status(refused.kind());
    }

    /** Headers the answer carries besides the problem: {@code retry-after} when the refusal says when. */
    public static Map<String, String> headers(Refused refused) {
        return refused.retryAfterSeconds().isPresent()
                ? Map.of(
                        "retry-after", Long.toString(refused.retryAfterSeconds().getAsLong()))
                : Map.of();
    }

    /** The problem document of {@code refused}, about the request at {@code instance} (null: none). */
    public static ProblemJson problem(Refused refused, String instance) {
        return ProblemJson.of(status(refused), refused.detail())
                .withInstance(instance)
                .withErrors(refused.errors());
    }
}
