package dev.underpass.gateway.consumer.proxy;

import dev.underpass.protocol.HostAndPort;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The operator's exceptions to "no public egress": host:port patterns the forward proxy may
 * reach directly from the gateway when they are not an endpoint of the caller. A pattern is
 * {@code host:port}, where the host may start with {@code *.} (any subdomain) and the port may be
 * {@code *}. Empty (the default): nothing but endpoints.
 */
public record EgressPolicy(List<String> patterns) {
    public EgressPolicy {
        patterns = List.copyOf(patterns);
    }

    public static EgressPolicy none() {
        return new EgressPolicy(List.of());
    }

    boolean allows(String host, int port) {
        String h = HostAndPort.normaliseName(host);
        for (String p : patterns) {
            int colon = p.lastIndexOf(':');
            String hostPattern = p.substring(0, colon).toLowerCase(Locale.ROOT);
            String portPattern = p.substring(colon + 1);
            boolean hostOk =
                    hostPattern.startsWith("*.") ? h.endsWith(hostPattern.substring(1)) : h.equals(hostPattern);
            boolean portOk = portPattern.equals("*") || portPattern.equals(Integer.toString(port));
            if (hostOk && portOk) {
                return true;
            }
        }
        return false;
    }

    /** Every malformed pattern, as {@code egressAllow[i]: ... (expected: ...)}. */
    public static List<String> validate(List<String> patterns) {
        List<String> errors = new ArrayList<>();
        for (int i = 0; i < patterns.size(); i++) {
            String p = patterns.get(i);
            int colon = p == null ? -1 : p.lastIndexOf(':');
            boolean ok = colon > 0;
            if (ok) {
                String host = p.substring(0, colon);
                String port = p.substring(colon + 1);
                ok = !host.isEmpty()
                        && !host.equals("*")
                        && !host.substring(host.startsWith("*.") ? 2 : 0).contains("*")
                        && (port.equals("*")
                                || port.matches("[0-9]{1,5}")
                                        && Integer.parseInt(port) >= 1
                                        && Integer.parseInt(port) <= 65535);
            }
            if (!ok) {
                errors.add("egressAllow[" + i + "]: " + p + " (expected: host:port, such as registry.npmjs.org:443 or "
                        + "*.github.com:*; a bare * is not allowed)");
            }
        }
        return errors;
    }
}
