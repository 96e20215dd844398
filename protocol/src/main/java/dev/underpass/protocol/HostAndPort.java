package dev.underpass.protocol;

import io.netty.util.NetUtil;
import java.util.Locale;
import java.util.Objects;

/**
 * A host name or literal address with a TCP port, as written in configuration and on the wire:
 * {@code host:port} or {@code [v6]:port}. Host names compare case-insensitively.
 */
public record HostAndPort(String host, int port) {
    public HostAndPort {
        Objects.requireNonNull(host, "host");
        if (host.isBlank()) {
            throw new IllegalArgumentException("host: '" + host + "' (expected: a host name or address)");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 0-65535)");
        }
        host = host.toLowerCase(Locale.ROOT);
    }

    /** A host name as DNS compares it: lower case, without the root's trailing dot. */
    public static String normaliseName(String host) {
        String h = host.toLowerCase(java.util.Locale.ROOT);
        return h.endsWith(".") ? h.substring(0, h.length() - 1) : h;
    }

    /** Parses {@code host:port} or {@code [v6]:port}; the message names the bad part. */
    public static HostAndPort parse(String text) {
        Objects.requireNonNull(text, "text");
        String s = text.trim();
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1) {
            throw new IllegalArgumentException("address: '" + text + "' (expected: host:port)");
        }
        String host = s.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
            if (!NetUtil.isValidIpV6Address(host)) { // brackets hold an IPv6 address, nothing else
                throw new IllegalArgumentException("address: '" + text + "' (expected: an IPv6 address inside [ ])");
            }
        } else if (host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("address: '" + text + "' (expected: [ipv6]:port for IPv6)");
        }
        if (host.isBlank()) {
            throw new IllegalArgumentException(
                    "address: '" + text + "' (expected: a host name or address before the port)");
        }
        int port;
        try {
            port = Integer.parseInt(s.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("address: '" + text + "' (expected: a numeric port)");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("address: '" + text + "' (expected: a port 0-65535)");
        }
        return new HostAndPort(host, port);
    }

    /** Parses an address that something dials, where port 0 (any port) makes no sense. */
    public static HostAndPort parseDialable(String text) {
        HostAndPort a = parse(text);
        if (a.port() == 0) {
            throw new IllegalArgumentException("address: '" + text + "' (expected: a port 1-65535)");
        }
        return a;
    }

    @Override
    public String toString() {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }
}
