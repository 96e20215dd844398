package dev.underpass.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Reads {@code PORT=PROTOCOL[:PATH][,interval=S][,timeout=S][,healthy=N][,unhealthy=N][,matcher=CODES]}
 * as the API's health check of the listener on PORT. A matcher keeps its own commas
 * ({@code matcher=200,204}). Only the shape is checked here; the gateway checks the values and
 * names every wrong one.
 */
final class HealthCheckConverter implements ITypeConverter<HealthCheckConverter.PortCheck> {
    static final String FORMAT =
            "PORT=PROTOCOL[:PATH][,interval=S][,timeout=S][,healthy=N][,unhealthy=N][,matcher=CODES]";
    private static final Map<String, String> FIELDS = Map.of(
            "interval",
            "intervalSeconds",
            "timeout",
            "timeoutSeconds",
            "healthy",
            "healthyThreshold",
            "unhealthy",
            "unhealthyThreshold",
            "matcher",
            "matcher");

    /** The check for the listener on {@code port}. */
    record PortCheck(int port, ObjectNode check) {}

    @Override
    public PortCheck convert(String value) {
        int eq = value.indexOf('=');
        if (eq < 1) {
            throw invalid(value);
        }
        int port;
        try {
            port = Integer.parseInt(value.substring(0, eq).strip());
        } catch (NumberFormatException e) {
            throw invalid(value);
        }
        String[] parts = value.substring(eq + 1).split(",", -1);
        ObjectNode check = ApiClient.JSON.createObjectNode();
        int colon = parts[0].indexOf(':');
        String protocol = colon < 0 ? parts[0] : parts[0].substring(0, colon);
        if (!protocol.matches("[A-Za-z]+")) {
            throw invalid(value);
        }
        check.put("protocol", protocol);
        if (colon >= 0) {
            check.put("path", parts[0].substring(colon + 1));
        }
        String last = null;
        for (int i = 1; i < parts.length; i++) {
            String part = parts[i];
            int at = part.indexOf('=');
            String key = at < 0 ? null : part.substring(0, at);
            if (key == null && "matcher".equals(last) && part.matches("[0-9]+(-[0-9]+)?")) {
                check.put("matcher", check.get("matcher").asText() + "," + part); // 200,204: one matcher
                continue;
            }
            if (key == null || !FIELDS.containsKey(key)) {
                throw new TypeConversionException("'" + value + "': unknown setting '" + part
                        + "' (expected: interval, timeout, healthy, unhealthy or matcher, as KEY=VALUE)");
            }
            String field = FIELDS.get(key);
            if (check.has(field)) {
                throw new TypeConversionException("'" + value + "': " + key + " given twice (expected: once)");
            }
            String v = part.substring(at + 1);
            if ("matcher".equals(key)) {
                check.put(field, v);
            } else if (v.matches("[0-9]{1,9}")) {
                check.put(field, Integer.parseInt(v));
            } else {
                throw new TypeConversionException("'" + value + "': " + key + "=" + v + " (expected: a whole number of "
                        + (key.endsWith("healthy") ? "checks" : "seconds") + ")");
            }
            last = key;
        }
        return new PortCheck(port, check);
    }

    private static TypeConversionException invalid(String value) {
        return new TypeConversionException(
                "'" + value + "' (expected: " + FORMAT + ", e.g. 443=https:/healthz,interval=5 " + "or 22=tcp)");
    }
}
