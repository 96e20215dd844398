package dev.underpass.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Reads {@code PORT=HOST:PORT[,HOST:PORT...]} as a listener of the API,
 * {@code {"port": PORT, "targets": [...]}}. Only the shape is checked here; the gateway checks
 * the values and names every wrong one.
 */
final class ListenerConverter implements ITypeConverter<ObjectNode> {
    @Override
    public ObjectNode convert(String value) {
        int eq = value.indexOf('=');
        if (eq < 1 || eq == value.length() - 1) {
            throw invalid(value);
        }
        ObjectNode listener = ApiClient.JSON.createObjectNode();
        try {
            listener.put("port", Integer.parseInt(value.substring(0, eq).strip()));
        } catch (NumberFormatException e) {
            throw invalid(value);
        }
        ArrayNode targets = listener.putArray("targets");
        for (String t : value.substring(eq + 1).split(",", -1)) {
            if (t.isBlank()) {
                throw invalid(value);
            }
            targets.add(t.strip());
        }
        return listener;
    }

    private static TypeConversionException invalid(String value) {
        return new TypeConversionException(
                "'" + value + "' (expected: PORT=HOST:PORT[,HOST:PORT...], e.g. 443=git.internal:443)");
    }
}
