package dev.underpass.controlplane.service;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/** The rules of a listener's {@link HealthCheck}, and the defaults that complete a partial one. */
final class HealthChecks {
    /** {@code tcp, http, https or tls}: every {@link HealthCheckProtocol}, as an error lists them. */
    private static final String PROTOCOLS = either(Arrays.stream(HealthCheckProtocol.values())
            .map(HealthCheckProtocol::text)
            .toList());

    static final String DEFAULT_PATH = "/";
    static final String DEFAULT_MATCHER = "200-399";
    static final int MAX_PATH = 1024;
    static final int MAX_MATCHER = 128;
    private static final Pattern MATCHER = Pattern.compile("[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*");
    private static final String MATCHER_EXPECTED =
            "(expected: HTTP status codes 100-599 and ranges, such as 200, 200-399 " + "or 200,204,301-302)";

    private HealthChecks() {}

    /**
     * {@code c} with every absent field set to its default ({@link HealthCheck#DEFAULT} for none);
     * each invalid field adds {@code at.field: value (expected: ...)} to {@code errors}.
     */
    static HealthCheck complete(List<String> errors, String at, HealthCheck c) {
        HealthCheck d = HealthCheck.DEFAULT;
        if (c == null) {
            return d;
        }
        Optional<HealthCheckProtocol> parsed = c.protocol() == null
                ? Optional.of(HealthCheckProtocol.DEFAULT)
                : HealthCheckProtocol.of(c.protocol().toLowerCase(Locale.ROOT));
        // An unknown protocol is refused below, and the check then never used.
        String protocol = parsed.map(HealthCheckProtocol::text).orElse(c.protocol());
        String path = c.path();
        String matcher = c.matcher();
        if (parsed.isEmpty()) {
            errors.add(at + ".protocol: '" + c.protocol() + "' (expected: " + PROTOCOLS + ")");
        } else if (parsed.get().sendsRequest()) {
            path = path == null ? DEFAULT_PATH : path;
            matcher = matcher == null ? DEFAULT_MATCHER : matcher;
            checkPath(errors, at + ".path", path);
            checkMatcher(errors, at + ".matcher", matcher);
        } else {
            // A tcp or tls check sends no request: a path or matcher would be silently ignored.
            if (path != null) {
                errors.add(at + ".path: given (expected: none for a " + protocol + " check; only http and https checks "
                        + "request a path)");
            }
            if (matcher != null) {
                errors.add(at + ".matcher: given (expected: none for a " + protocol
                        + " check; only http and https checks " + "match a status)");
            }
        }
        int interval = within(errors, at + ".intervalSeconds", c.intervalSeconds(), d.intervalSeconds(), 1, 300);
        // A short interval brings the default timeout down with it, so that giving only the interval is enough.
        boolean intervalValid = interval >= 1 && interval <= 300;
        int timeout = within(
                errors,
                at + ".timeoutSeconds",
                c.timeoutSeconds(),
                intervalValid ? Math.min(d.timeoutSeconds(), interval) : d.timeoutSeconds(),
                1,
                120);
        if (intervalValid && timeout > interval && timeout <= 120) {
            errors.add(at + ".timeoutSeconds: " + timeout + " (expected: at most intervalSeconds, " + interval + ")");
        }
        int healthy = within(errors, at + ".healthyThreshold", c.healthyThreshold(), d.healthyThreshold(), 1, 10);
        int unhealthy =
                within(errors, at + ".unhealthyThreshold", c.unhealthyThreshold(), d.unhealthyThreshold(), 1, 10);
        return new HealthCheck(protocol, path, matcher, interval, timeout, healthy, unhealthy);
    }

    /** {@code a, b or c}. */
    private static String either(List<String> words) {
        return String.join(", ", words.subList(0, words.size() - 1)) + " or " + words.getLast();
    }

    private static void checkPath(List<String> errors, String field, String path) {
        String expected = " (expected: an absolute path such as /healthz, at most " + MAX_PATH
                + " visible ASCII characters, percent-encoded where needed)";
        if (path.length() > MAX_PATH) {
            errors.add(field + ": " + path.length() + " characters" + expected);
        } else if (!path.chars().allMatch(ch -> ch > ' ' && ch < 0x7f)) {
            // Not echoed: it would carry the control characters to the caller's terminal.
            errors.add(field + ": contains whitespace, control or non-ASCII characters" + expected);
        } else if (!path.startsWith("/")) {
            errors.add(field + ": '" + path + "'" + expected);
        }
    }

    private static void checkMatcher(List<String> errors, String field, String matcher) {
        if (matcher.length() > MAX_MATCHER) {
            errors.add(field + ": " + matcher.length() + " characters (expected: at most " + MAX_MATCHER + ")");
            return;
        }
        if (!MATCHER.matcher(matcher).matches()) {
            errors.add(field + ": '" + matcher + "' " + MATCHER_EXPECTED);
            return;
        }
        for (String part : matcher.split(",")) {
            String[] range = part.split("-");
            int low = Integer.parseInt(range[0]);
            int high = Integer.parseInt(range[range.length - 1]);
            if (low < 100 || high > 599 || low > high) {
                errors.add(field + ": '" + matcher + "' has '" + part + "' " + MATCHER_EXPECTED);
                return;
            }
        }
    }

    private static int within(List<String> errors, String field, Integer value, int orElse, int min, int max) {
        if (value == null) {
            return orElse;
        }
        if (value < min || value > max) {
            errors.add(field + ": " + value + " (expected: " + min + "-" + max + ")");
        }
        return value;
    }
}
