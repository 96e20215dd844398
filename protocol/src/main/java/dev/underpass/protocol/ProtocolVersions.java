package dev.underpass.protocol;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The {@code underpass-protocol} header: a comma-separated list of versions its sender speaks
 * (a version-1 agent sends just {@code 1}). The gateway picks the highest version both speak.
 */
public final class ProtocolVersions {
    private ProtocolVersions() {}

    /** The header value offering {@code versions}. */
    public static String format(List<Integer> versions) {
        return versions.stream().map(String::valueOf).collect(Collectors.joining(", "));
    }

    /** The versions in a header value; an unreadable entry makes the whole offer empty. */
    public static List<Integer> parse(CharSequence header) {
        if (header == null) {
            return List.of();
        }
        List<Integer> versions = new ArrayList<>();
        for (String part : header.toString().split(",", 64)) {
            try {
                versions.add(Integer.parseInt(part.strip()));
            } catch (NumberFormatException e) {
                return List.of();
            }
        }
        return versions;
    }

    /** The highest version in both lists, or 0 when there is none. */
    public static int choose(List<Integer> offered, List<Integer> spoken) {
        return offered.stream()
                .filter(spoken::contains)
                .mapToInt(Integer::intValue)
                .max()
                .orElse(0);
    }
}
