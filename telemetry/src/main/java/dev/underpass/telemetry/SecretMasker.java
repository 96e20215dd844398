package dev.underpass.telemetry;

import java.util.Locale;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Masks secrets in text about to be written out: every log line goes through it
 * ({@link MaskingConverter}, docs/adr/0011-secret-masking.md), so a secret is hidden even where
 * a call site forgot. It recognises secrets by their format, or by the name they are given:
 * <ul>
 *   <li>agent tokens, API keys and agent enrollment tokens: {@code upa_}/{@code upk_}/{@code upe_}
 *       followed by at least 16 base64url characters become {@code upa_****}/{@code upk_****}/{@code upe_****};</li>
 *   <li>JWTs (three or more base64url segments, the first starting with {@code eyJ}) become
 *       {@code eyJ****};</li>
 *   <li>{@code Authorization} and {@code Proxy-Authorization} values, case-insensitive, as a
 *       header ({@code :}), a map entry ({@code =}) or a JSON field: a known scheme is kept
 *       ({@code Bearer ****}), anything else is masked whole, up to the end of the line or
 *       closing quote;</li>
 *   <li>bare {@code Bearer <token>} and {@code Basic <base64>} (8 characters or more, not a
 *       plain word such as "authentication");</li>
 *   <li>the password of a URL's userinfo: {@code http://user:****@host};</li>
 *   <li>the value of a {@code key=value} or JSON {@code "key": "value"} whose key ends with
 *       password, passwd, passphrase, pwd, secret, token, apikey/api_key, access_key,
 *       private_key, secret_key or credential(s), and JSON {@code "key"} fields.</li>
 * </ul>
 * Text without any of these patterns' trigger substrings is returned as is, without running a
 * regular expression: the common case of a data-path log line costs a lower-casing and a few
 * substring searches.
 */
public final class SecretMasker {
    /** What replaces a secret, or the part of it after a recognisable prefix. */
    public static final String MASK = "****";

    /** Blanks within a line: a secret's name and its value never span lines. */
    private static final String SP = "[ \\t]*";

    private static final String SP1 = "[ \\t]+";
    private static final String B64URL = "[A-Za-z0-9_-]";
    private static final Pattern PREFIXED = Pattern.compile("(up[ake]_)" + B64URL + "{16,}");
    /** Starts where a base64url run starts: inside a long run, each "eyJ" would rescan the rest of it. */
    private static final Pattern JWT = Pattern.compile("(?<![A-Za-z0-9_-])eyJ" + B64URL + "{2,}\\." + B64URL + "{2,}\\."
            + B64URL + "*(?:\\." + B64URL + "+){0,2}");
    /** Authorization schemes kept in front of the mask; the IANA registry plus common ones. */
    private static final String SCHEMES =
            "bearer|basic|digest|negotiate|ntlm|dpop|token|hoba|mutual|vapid|privatetoken|scram-sha-1|scram-sha-256"
                    + "|aws4-hmac-sha256|gssapi";
    /** A double-quoted string with backslash escapes, unrolled so that long values cannot overflow the stack. */
    private static final String QUOTED = "\"[^\"\\\\]*+(?:\\\\.[^\"\\\\]*+)*+\"";

    private static final String AUTH_PARAM = "[A-Za-z0-9_-]+" + SP + "=" + SP + "(?:" + QUOTED + "|[^\\s,;\"]*)";
    private static final String CREDENTIALS = AUTH_PARAM + "(?:" + SP + "," + SP + AUTH_PARAM + ")*|[^\\s\"',;}\\]]+";
    private static final Pattern AUTH_HEADER = Pattern.compile("(?i)((?:proxy-)?authorization[\"']?" + SP + "[:=]" + SP
            + "[\"']?)" + "(?:(" + SCHEMES + ")(" + SP1 + ")(" + CREDENTIALS + ")|([^\\s\"'}\\]][^\\r\\n\"'}\\]]*))");
    private static final Pattern BARE_SCHEME = Pattern.compile("(?<![A-Za-z0-9])((?i:bearer|basic)" + SP1 + ")"
            // not a plain (possibly hyphenated) word: "Basic authentication", "bearer token-based"
            + "(?![A-Za-z][a-z]*(?:-[a-z]+)*(?![A-Za-z0-9._~+/-]))"
            + "([A-Za-z0-9._~+/-]{8,}=*)");
    private static final Pattern URL_PASSWORD = Pattern.compile(
            // Anchored on "://" rather than on the scheme: a literal start is found fast, and a long run
            // of letters without "://" after it costs no rescans.
            "(://[^\\s/?#@:]*:)([^\\s/?#]+)@");
    private static final String KEYWORDS =
            "pass(?:word|wd|phrase)|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key"
                    + "|credentials?";
    private static final Pattern JSON_FIELD = Pattern.compile(
            "(?i)((?:" + KEYWORDS + "|(?<=\")key)\"" + SP + ":" + SP + "\")([^\"\\\\]*+(?:\\\\.[^\"\\\\]*+)*+)\"");
    private static final Pattern KEY_VALUE = Pattern.compile(
            "(?i)((?:" + KEYWORDS + ")" + SP + "=" + SP + ")(" + QUOTED + "|'[^']*+'|[^\\s,;&\"'}\\]]++)");
    /** Lower-case substrings of which at least one is in any text that {@link #KEY_VALUE} or {@link #JSON_FIELD} changes. */
    private static final String[] KEYWORD_TRIGGERS = {
        "password", "passwd", "passphrase", "pwd", "secret", "token", "api", "access", "private", "credential"
    };

    private SecretMasker() {}

    /** {@code text} with every recognised secret masked; {@code text} itself when it holds none. */
    public static String mask(String text) {
        if (text == null || text.length() < 5) {
            return text;
        }
        String lower = text.toLowerCase(Locale.ROOT);
        // A trigger's index in lower is its index in text while lower-casing kept every character in place
        // (it does, but for a few non-ASCII letters) and nothing has been replaced yet; a pattern's search
        // then starts there, else at 0.
        boolean aligned = lower.length() == text.length();
        String out = text;
        // Token formats first, so that a token under a key or header keeps its telling prefix (token=upa_****).
        int at = indexOfAny(lower, "upa_", "upk_", "upe_");
        if (at >= 0) {
            out = replace(PREFIXED, out, aligned ? at : 0, m -> m.group(1) + MASK);
        }
        at = lower.indexOf("eyj");
        if (at >= 0) {
            out = replace(JWT, out, from(at, aligned, out, text), m -> "eyJ" + MASK);
        }
        at = lower.indexOf("authorization");
        if (at >= 0) {
            int proxy = Math.max(0, at - "proxy-".length());
            out = replace(AUTH_HEADER, out, from(proxy, aligned, out, text), SecretMasker::authorization);
        }
        at = indexOfAny(lower, "bearer", "basic");
        if (at >= 0) {
            out = replace(BARE_SCHEME, out, from(at, aligned, out, text), m -> m.group(1) + MASK);
        }
        at = lower.indexOf("://");
        if (at >= 0 && lower.indexOf('@', at) >= 0) {
            out = replace(
                    URL_PASSWORD,
                    out,
                    from(at, aligned, out, text),
                    m -> isMasked(m.group(2)) ? m.group() : m.group(1) + MASK + "@");
        }
        int keyword = indexOfAny(lower, KEYWORD_TRIGGERS);
        int jsonKey = lower.indexOf("\"key\"");
        at = keyword < 0 ? jsonKey : jsonKey < 0 ? keyword : Math.min(keyword, jsonKey);
        if (at >= 0 && lower.indexOf('"', at) >= 0 && lower.indexOf(':', at) >= 0) {
            out = replace(
                    JSON_FIELD,
                    out,
                    from(at, aligned, out, text),
                    m -> m.group(2).isEmpty() || isMasked(m.group(2)) ? m.group() : m.group(1) + MASK + "\"");
        }
        if (keyword >= 0 && lower.indexOf('=', keyword) >= 0) {
            out = replace(KEY_VALUE, out, from(keyword, aligned, out, text), SecretMasker::keyValue);
        }
        return out;
    }

    private static int from(int trigger, boolean aligned, String out, String text) {
        return aligned && out == text ? trigger : 0;
    }

    private static String authorization(Matcher m) {
        if (m.group(2) == null) {
            return isMasked(m.group(5)) ? m.group() : m.group(1) + MASK;
        }
        return isMasked(m.group(4)) ? m.group() : m.group(1) + m.group(2) + m.group(3) + MASK;
    }

    private static String keyValue(Matcher m) {
        String value = m.group(2);
        char quote = value.charAt(0);
        if (quote == '"' || quote == '\'') {
            String inner = value.substring(1, value.length() - 1);
            return inner.isEmpty() || isMasked(inner) ? m.group() : m.group(1) + quote + MASK + quote;
        }
        return isMasked(value) ? m.group() : m.group(1) + MASK;
    }

    /** Whether an earlier pattern has already masked this value, keeping its prefix. */
    private static boolean isMasked(String value) {
        return value.endsWith(MASK)
                && (value.length() == MASK.length()
                        || value.equals("upa_" + MASK)
                        || value.equals("upk_" + MASK)
                        || value.equals("upe_" + MASK)
                        || value.equals("eyJ" + MASK));
    }

    /** The least index at which one of {@code needles} occurs in {@code lower}, or -1. */
    private static int indexOfAny(String lower, String... needles) {
        int least = -1;
        for (String needle : needles) {
            int i = lower.indexOf(needle);
            if (i >= 0 && (least < 0 || i < least)) {
                least = i;
            }
        }
        return least;
    }

    /**
     * Like {@link Matcher#replaceAll(Function)} but searching from {@code from} (lookbehinds still see
     * what is before it), the replacement is literal text, and there is no copy without a match.
     */
    private static String replace(Pattern pattern, String text, int from, Function<Matcher, String> replacement) {
        Matcher m = pattern.matcher(text);
        if (from > 0) {
            m.region(from, text.length()).useTransparentBounds(true).useAnchoringBounds(false);
        }
        if (!m.find()) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text.length());
        int last = 0;
        do {
            sb.append(text, last, m.start()).append(replacement.apply(m));
            last = m.end();
        } while (m.find());
        return sb.append(text, last, text.length()).toString();
    }
}
