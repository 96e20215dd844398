package dev.underpass.controlplane.core;

import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * A refused control-plane operation: what kind of refusal it is, and a detail that says what was
 * wrong and what is expected instead. The domain says only the kind; the REST API maps kinds to
 * HTTP statuses in one place ({@code api.ProblemMapper}), and the gateway to its own answers, so
 * that no domain class knows HTTP.
 */
public final class Refused extends RuntimeException {
    /** Why an operation was refused; each maps to one HTTP status at the edge (shown for reference). */
    public enum Kind {
        /** The input is wrong: a field, a query parameter, a value out of range (400). */
        INVALID,
        /** No credential, or one that is unknown, revoked, expired or used (401). */
        UNAUTHENTICATED,
        /** The principal is known but may not do this (403). */
        FORBIDDEN,
        /** No such object in the caller's account (404). */
        NOT_FOUND,
        /** The object's current state does not allow it, or the name is taken (409). */
        CONFLICT,
        /** Too many failed authentication attempts; retry after {@link #retryAfterSeconds()} (429). */
        TOO_MANY_ATTEMPTS,
        /** Cannot be decided now, through nobody's fault; retry after {@link #retryAfterSeconds()} (503). */
        UNAVAILABLE
    }

    private final Kind kind;
    private final List<String> errors;
    private final OptionalLong retryAfterSeconds;

    public Refused(Kind kind, String detail) {
        this(kind, detail, List.of(), OptionalLong.empty());
    }

    private Refused(Kind kind, String detail, List<String> errors, OptionalLong retryAfterSeconds) {
        // No stack trace: a refusal is an answer, not a failure, and some come in floods.
        super(detail, null, false, false);
        this.kind = Objects.requireNonNull(kind, "kind");
        this.errors = List.copyOf(errors);
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** Every problem of an input, each as {@code field: value (expected: ...)}. */
    public static Refused invalid(List<String> errors) {
        return new Refused(
                Kind.INVALID,
                "the request has " + errors.size() + " invalid field(s): " + String.join("; ", errors),
                errors,
                OptionalLong.empty());
    }

    /** An input refused as a whole, such as a query parameter given twice. */
    public static Refused invalid(String detail) {
        return new Refused(Kind.INVALID, detail);
    }

    public static Refused unauthenticated(String detail) {
        return new Refused(Kind.UNAUTHENTICATED, detail);
    }

    public static Refused forbidden(String detail) {
        return new Refused(Kind.FORBIDDEN, detail);
    }

    /** {@code what} (such as {@code service 'db'}) is not in the caller's account. */
    public static Refused notFound(String what) {
        return new Refused(Kind.NOT_FOUND, what + " does not exist in your account");
    }

    public static Refused conflict(String detail) {
        return new Refused(Kind.CONFLICT, detail);
    }

    public static Refused tooManyAttempts(String detail, long retryAfterSeconds) {
        return new Refused(Kind.TOO_MANY_ATTEMPTS, detail, List.of(), OptionalLong.of(retryAfterSeconds));
    }

    public static Refused unavailable(String detail, long retryAfterSeconds) {
        return new Refused(Kind.UNAVAILABLE, detail, List.of(), OptionalLong.of(retryAfterSeconds));
    }

    public Kind kind() {
        return kind;
    }

    /** The detail: what was wrong and what is expected instead. */
    public String detail() {
        return getMessage();
    }

    /** For {@link Kind#INVALID} from {@link #invalid(List)}: every problem of the input; else empty. */
    public List<String> errors() {
        return errors;
    }

    /** For {@link Kind#TOO_MANY_ATTEMPTS} and {@link Kind#UNAVAILABLE}: when to try again. */
    public OptionalLong retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
