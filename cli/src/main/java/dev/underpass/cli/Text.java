package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** How values of the API's JSON read in tables and {@code key: value} lines. */
final class Text {
    static final String NONE = "-";

    private Text() {}

    /** A {@code key: value} line of a {@code show}. */
    static void field(PrintWriter out, String key, String value) {
        out.println(key + ": " + value);
    }

    /** A string, number or boolean as it is; absent or null as {@value #NONE}. */
    static String of(JsonNode value) {
        return value == null || value.isMissingNode() || value.isNull() ? NONE : value.asText();
    }

    /** An ISO-8601 instant to the second: the API's fractions of a second only widen columns. */
    static String time(JsonNode value) {
        String text = of(value);
        try {
            return NONE.equals(text)
                    ? text
                    : Instant.parse(text).truncatedTo(ChronoUnit.SECONDS).toString();
        } catch (DateTimeParseException e) {
            return text;
        }
    }

    /** {@code text} with each control character as '?': what an agent reports must not drive the terminal. */
    static String printable(String text) {
        return text.codePoints()
                .map(c -> Character.isISOControl(c) ? '?' : c)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append)
                .toString();
    }

    /** The elements of an array, each through {@code f}, joined; {@value #NONE} when there are none. */
    static String join(JsonNode array, String separator, Function<JsonNode, String> f) {
        List<String> parts = new ArrayList<>();
        array.forEach(e -> parts.add(f.apply(e)));
        return parts.isEmpty() ? NONE : String.join(separator, parts);
    }
}
