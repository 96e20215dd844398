package dev.underpass.controlplane;

import java.util.List;
import java.util.Map;

/**
 * A refused control-plane operation, carried to the caller as an RFC 9457 problem: the HTTP
 * status, and a detail that says what was wrong and what is expected instead.
 */
public final class ApiException extends RuntimeException {
    private final int status;
    private final List<String> errors;
    private final Map<String, String> headers;

    public ApiException(int status, String detail) {
        this(status, detail, List.of());
    }

    /** With {@code errors}: every problem of an input, each as {@code field: value (expected: ...)}. */
    public ApiException(int status, String detail, List<String> errors) {
        this(status, detail, errors, Map.of());
    }

    /** With {@code headers} for the HTTP answer, such as {@code allow} for a 405. */
    public ApiException(int status, String detail, List<String> errors, Map<String, String> headers) {
        super(detail, null, false, false);
        this.status = status;
        this.errors = List.copyOf(errors);
        this.headers = Map.copyOf(headers);
    }

    public static ApiException notFound(String what) {
        return new ApiException(404, what + " does not exist in your account");
    }

    public static ApiException invalid(List<String> errors) {
        return new ApiException(400, "the request has " + errors.size() + " invalid field(s): " + String.join("; ", errors),
                errors);
    }

    public int status() {
        return status;
    }

    public List<String> errors() {
        return errors;
    }

    public Map<String, String> headers() {
        return headers;
    }
}
