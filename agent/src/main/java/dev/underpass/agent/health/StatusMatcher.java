package dev.underpass.agent.health;

import java.util.ArrayList;
import java.util.List;

/** HTTP status codes a health check accepts, written as {@code 200}, {@code 200-399} or {@code 200,204,301-302}. */
record StatusMatcher(List<int[]> ranges, String text) {
    static final StatusMatcher DEFAULT = parse("200-399");

    static StatusMatcher parse(String text) {
        if (text == null || text.isBlank()) {
            return DEFAULT;
        }
        List<int[]> ranges = new ArrayList<>();
        for (String part : text.split(",", 32)) {
            String[] bounds = part.strip().split("-", 2);
            int low = code(bounds[0], text);
            int high = bounds.length == 2 ? code(bounds[1], text) : low;
            if (high < low) {
                throw new IllegalArgumentException(
                        "matcher: " + text + " (expected: ranges low-high with low <= high)");
            }
            ranges.add(new int[] {low, high});
        }
        return new StatusMatcher(List.copyOf(ranges), text);
    }

    private static int code(String s, String text) {
        try {
            int c = Integer.parseInt(s.strip());
            if (c >= 100 && c <= 599) {
                return c;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("matcher: " + text + " (expected: status codes 100-599, e.g. 200-399)");
    }

    boolean matches(int status) {
        return ranges.stream().anyMatch(r -> status >= r[0] && status <= r[1]);
    }
}
