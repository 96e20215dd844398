package dev.underpass.agent.target;

import dev.underpass.agent.config.TargetNetworks;
import dev.underpass.protocol.HostAndPort;
import io.netty.handler.ipfilter.IpSubnetFilterRule;
import io.netty.util.NetUtil;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Where an allowlisted target may lead: the agent resolves a target's name once, checks every
 * address it got, and dials the address it checked, so the answer cannot change in between (DNS
 * rebinding). A name must not lead to loopback (services that listen only on the agent host),
 * link-local addresses (the clouds' metadata services among them) or other special addresses,
 * also not in IPv6 clothing ({@link #embeddedIpv4}), unless the network is listed in
 * {@code targetNetworks}; when networks are listed, a name may lead only into them. A target
 * written as an address is dialled as written: the administrator named that address.
 */
public final class TargetAddresses {
    /** Addresses no name may lead to unless a listed network includes them. */
    private static final List<IpSubnetFilterRule> SPECIAL = TargetNetworks.rules(List.of(
            "0.0.0.0/8",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "100.100.100.200/32",
            "224.0.0.0/4",
            "240.0.0.0/4",
            "::/128",
            "::1/128",
            "fe80::/10",
            "ff00::/8",
            "fd00:ec2::254/128"));

    /** A target that may not be dialled, and why. */
    public static final class NotAllowed extends Exception {
        NotAllowed(String message) {
            super(message, null, false, false);
        }
    }

    /** How names are resolved: the system's resolver, or a fixed answer in tests. */
    public interface Resolver {
        InetAddress[] resolve(String host) throws UnknownHostException;

        Resolver SYSTEM = InetAddress::getAllByName;
    }

    private final List<String> networks;
    private final List<IpSubnetFilterRule> rules;
    private final Resolver resolver;

    /** {@code networks}: CIDR blocks names may lead into; empty for "anywhere but special addresses". */
    public TargetAddresses(List<String> networks, Resolver resolver) {
        this.networks = List.copyOf(networks);
        this.rules = TargetNetworks.rules(networks);
        this.resolver = resolver;
    }

    /** True when {@code host} is an address, which needs no resolving (and no hop off the event loop). */
    static boolean literal(String host) {
        return NetUtil.isValidIpV4Address(host) || NetUtil.isValidIpV6Address(host);
    }

    /**
     * The address to dial for {@code target}: the first address its name resolves to that it may
     * lead to. Blocks on the resolver.
     *
     * @throws NotAllowed when the name resolves only to addresses it may not lead to
     * @throws UnknownHostException when the name does not resolve
     */
    public InetSocketAddress resolve(HostAndPort target) throws NotAllowed, UnknownHostException {
        String host = target.host();
        if (literal(host)) {
            return new InetSocketAddress(NetUtil.createInetAddressFromIpAddressString(host), target.port());
        }
        InetAddress[] found = resolver.resolve(host);
        for (InetAddress a : found) {
            if (allowed(host, a)) {
                return new InetSocketAddress(a, target.port());
            }
        }
        String addresses =
                Arrays.stream(found).map(InetAddress::getHostAddress).toList().toString();
        throw new NotAllowed(
                networks.isEmpty()
                        ? "target " + target + " resolved to " + addresses
                                + ": the agent host itself, link-local (cloud metadata) "
                                + "or other special addresses, which a name may not lead to (list the address itself as a target, "
                                + "or its network in targetNetworks)"
                        : "target " + target + " resolved to " + addresses + ", outside targetNetworks " + networks);
    }

    private boolean allowed(String host, InetAddress a) {
        InetSocketAddress at = new InetSocketAddress(a, 0);
        Inet4Address embedded = embeddedIpv4(a);
        InetSocketAddress inner = embedded == null ? null : new InetSocketAddress(embedded, 0);
        if (!rules.isEmpty()) {
            return rules.stream().anyMatch(r -> r.matches(at) || inner != null && r.matches(inner));
        }
        if (localhost(host) && a.isLoopbackAddress()) {
            return true; // RFC 6761: localhost always means this host; the administrator wrote it
        }
        return SPECIAL.stream().noneMatch(r -> r.matches(at) || inner != null && r.matches(inner));
    }

    /**
     * The IPv4 address an IPv6 address carries and reaches through a dual-stack socket or a
     * translator: IPv4-mapped ({@code ::ffff:a.b.c.d}), IPv4-compatible ({@code ::a.b.c.d}), NAT64
     * ({@code 64:ff9b::/96}) and 6to4 ({@code 2002:aabb:ccdd::/48}); null for any other address.
     * Special IPv4 addresses must not be reachable in IPv6 clothing.
     */
    static Inet4Address embeddedIpv4(InetAddress a) {
        if (!(a instanceof Inet6Address)) {
            return null;
        }
        byte[] b = a.getAddress();
        int from;
        if (zero(b, 0, 10) && (b[10] & 0xff) == 0xff && (b[11] & 0xff) == 0xff) {
            from = 12; // mapped
        } else if (zero(b, 0, 12) && !zero(b, 12, 16)) {
            from = 12; // compatible (deprecated, still routed by some stacks); :: and ::1 are listed themselves
        } else if ((b[0] & 0xff) == 0x00
                && (b[1] & 0xff) == 0x64
                && (b[2] & 0xff) == 0xff
                && (b[3] & 0xff) == 0x9b
                && zero(b, 4, 12)) {
            from = 12; // NAT64 well-known prefix
        } else if ((b[0] & 0xff) == 0x20 && (b[1] & 0xff) == 0x02) {
            from = 2; // 6to4
        } else {
            return null;
        }
        try {
            return (Inet4Address) InetAddress.getByAddress(Arrays.copyOfRange(b, from, from + 4));
        } catch (UnknownHostException impossible) {
            throw new IllegalStateException(impossible);
        }
    }

    private static boolean zero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static boolean localhost(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        return h.equals("localhost") || h.endsWith(".localhost");
    }
}
