package dev.underpass.controlplane.core;

import java.util.List;
import java.util.regex.Pattern;

/** The rules for names of accounts, users, services, keys and tokens, and for DNS names. */
public final class Names {
    private static final Pattern NAME = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");

    private Names() {}

    public static boolean valid(String name) {
        return name != null && NAME.matcher(name).matches();
    }

    /** Adds {@code field: value (expected: ...)} to {@code errors} unless {@code name} is valid. */
    public static void check(List<String> errors, String field, String name) {
        if (!valid(name)) {
            errors.add(
                    field + ": " + (name == null ? "missing" : "'" + name + "'")
                            + " (expected: lowercase letters, digits and '-', 1-63 characters, not starting or ending with '-')");
        }
    }

    /** A fully qualified DNS name in lowercase, at least two labels, at most 253 characters. */
    public static boolean validDnsName(String name) {
        if (name == null || name.length() > 253 || !name.contains(".")) {
            return false;
        }
        for (String label : name.split("\\.", -1)) {
            if (!DNS_LABEL.matcher(label).matches()) {
                return false;
            }
        }
        return true;
    }

    /** True when {@code text} has characters a terminal would interpret (escape sequences, line breaks). */
    public static boolean hasControlCharacters(String text) {
        return text.chars().anyMatch(Character::isISOControl);
    }

    /** Throws 400 listing every error, if there are any. */
    public static void reject(List<String> errors) {
        if (!errors.isEmpty()) {
            throw Refused.invalid(errors);
        }
    }
}
