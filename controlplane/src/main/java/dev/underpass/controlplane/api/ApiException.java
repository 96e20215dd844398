package dev.underpass.controlplane.api;

import java.util.List;
import java.util.Map;

/**
 * A request the API itself refuses before or around the domain (no such route, a method not
 * allowed, a malformed query or body), carried to the caller as an RFC 9457 problem: the HTTP
 * status, and a detail that says what was wrong and what is expected instead. Domain refusals are
 * {@link dev.underpass.controlplane.core.Refused}, mapped by {@link ProblemMapper}.
 */
final class ApiException extends RuntimeException {
    private final int status;
    private final List<String> errors;
    private final Map<String, String> headers;

    ApiException(int status, String detail) {
        this(status, detail, List.of());
    }

    /** With {@code errors}: every problem of an input, each as {@code field: value (expected: ...)}. */
    ApiException(int status, String detail, List<String> errors) {
        this(status, detail, errors, Map.of());
    }

    /** With {@code headers} for the HTTP answer, such as {@code allow} for a 405. */
    ApiException(int status, String detail, List<String> errors, Map<String, String> headers) {
        super(detail, null, false, false);
        this.status = status;
        this.errors = List.copyOf(errors);
        this.headers = Map.copyOf(headers);
    }

    static ApiException notFound(String what) {
        return new ApiException(404, what + " does not exist in your account");
    }

    static ApiException invalid(List<String> errors) {
        return new ApiException(
                400, "the request has " + errors.size() + " invalid field(s): " + String.join("; ", errors), errors);
    }

    int status() {
        return status;
    }

    List<String> errors() {
        return errors;
    }

    Map<String, String> headers() {
        return headers;
    }
}
