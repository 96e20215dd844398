package dev.underpass.telemetry;

/**
 * Escapes the characters that let text from outside forge or hide log lines: every C0 control
 * (line feed, carriage return, NUL, escape sequences of terminals...), DEL, the C1 controls, the
 * Unicode line and paragraph separators and the bidirectional overrides. A line feed in a
 * logged value would otherwise start what looks like a new event (docs/adr/0011-secret-masking.md).
 * Printable text, backslashes included, is left as it is.
 */
public final class ControlCharacters {
    private ControlCharacters() {}

    /** {@code text} with each control character written as {@code \n}, {@code \r}, {@code \t}, {@code \xHH} or {@code \\uHHHH}. */
    public static String escape(String text) {
        if (text == null) {
            return null;
        }
        int first = firstControl(text);
        if (first < 0) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text.length() + 16).append(text, 0, first);
        for (int i = first; i < text.length(); i++) {
            char c = text.charAt(i);
            if (!isControl(c)) {
                sb.append(c);
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c == '\r') {
                sb.append("\\r");
            } else if (c == '\t') {
                sb.append("\\t");
            } else if (c <= 0xff) {
                sb.append("\\x").append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 0xf, 16));
            } else {
                sb.append(String.format("\\u%04x", (int) c));
            }
        }
        return sb.toString();
    }

    private static int firstControl(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (isControl(text.charAt(i))) {
                return i;
            }
        }
        return -1;
    }

    static boolean isControl(char c) {
        return c < 0x20
                || (c >= 0x7f && c <= 0x9f) // C0, DEL, C1 (NEL among them)
                || c == '\u2028'
                || c == '\u2029' // line and paragraph separators
                || (c >= '\u202a' && c <= '\u202e')
                || (c >= '\u2066' && c <= '\u2069') // bidirectional overrides
                || c == '\u200e'
                || c == '\u200f'
                || c == '\u061c'; // direction marks
    }
}
