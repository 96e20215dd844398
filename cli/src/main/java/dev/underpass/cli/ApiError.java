package dev.underpass.cli;

import java.util.List;

/**
 * The gateway refused or failed a request, or could not be reached: the problem's detail, each
 * invalid field on its own line, and the HTTP status (0 when there was no answer). The CLI exits
 * with {@link #EXIT_CODE} for it, apart from usage errors (2). Never carries the API key.
 */
final class ApiError extends RuntimeException {
    /** Exit code of a command the API refused or failed. */
    static final int EXIT_CODE = 1;

    private final int status;

    ApiError(int status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    /** From an RFC 9457 problem: {@code detail (HTTP status title)} and then each {@code errors} entry. */
    static ApiError problem(int status, String title, String detail, List<String> errors) {
        StringBuilder m =
                new StringBuilder(detail == null || detail.isBlank() ? "the gateway refused the request" : detail);
        m.append(" (HTTP ")
                .append(status)
                .append(title == null || title.isBlank() ? "" : " " + title)
                .append(')');
        // The detail of an invalid request already names every field; list them one per line instead.
        if (!errors.isEmpty() && detail != null && detail.contains(errors.getFirst())) {
            m.setLength(0);
            m.append("the request has ").append(errors.size()).append(" invalid field(s)");
            m.append(" (HTTP ")
                    .append(status)
                    .append(title == null || title.isBlank() ? "" : " " + title)
                    .append(')');
        }
        errors.forEach(e -> m.append(System.lineSeparator()).append("  - ").append(e));
        return new ApiError(status, m.toString());
    }

    /** The HTTP status of the answer, or 0 when the gateway could not be reached. */
    int status() {
        return status;
    }
}
