package dev.underpass.cli;

import java.util.Locale;
import java.util.Map;

/** The conventional HTTPS_PROXY / NO_PROXY variables, as curl reads them. */
final class EnvironmentProxy {
    private EnvironmentProxy() {}

    /** The proxy URL for {@code host}, or null when none is set or NO_PROXY excludes the host. */
    static String forHost(String host, Map<String, String> env) {
        String proxy = first(env, "HTTPS_PROXY", "https_proxy");
        if (proxy == null || proxy.isBlank()) {
            return null;
        }
        String noProxy = first(env, "NO_PROXY", "no_proxy");
        if (noProxy != null) {
            String h = host.toLowerCase(Locale.ROOT);
            for (String entry : noProxy.split(",")) {
                String e = entry.trim().toLowerCase(Locale.ROOT);
                if (e.startsWith("*.")) {
                    e = e.substring(1);
                }
                if (e.equals("*")
                        || (!e.isEmpty()
                                && (h.equals(e.startsWith(".") ? e.substring(1) : e)
                                        || h.endsWith(e.startsWith(".") ? e : "." + e)))) {
                    return null;
                }
            }
        }
        return proxy;
    }

    private static String first(Map<String, String> env, String... names) {
        for (String n : names) {
            String v = env.get(n);
            if (v != null) {
                return v;
            }
        }
        return null;
    }
}
