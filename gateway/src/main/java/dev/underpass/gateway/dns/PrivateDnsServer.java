package dev.underpass.gateway.dns;

import static dev.underpass.gateway.dns.DnsLog.log;
import static java.util.Objects.requireNonNull;

import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.dns.DnsRecordDecoder;
import io.netty.handler.codec.dns.TcpDnsQueryDecoder;
import io.netty.handler.codec.dns.TcpDnsResponseEncoder;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;

/**
 * A small DNS server (RFC 1035) for the private names of endpoints, for consumers that cannot
 * use the forward proxy: it answers {@code A} and {@code AAAA} queries for the names its lookup
 * knows, over UDP and over TCP (RFC 7766, two-byte length prefix) on one address, and refuses or
 * forwards every other name ({@link Options}; issue 4).
 *
 * <p>This class binds the two sockets and closes them; the rest is done by:
 * <ul>
 * <li>{@link DnsAnswers}: the answer to a query from the lookup, or that it is to be forwarded;
 * <li>{@link Edns}: the OPT record, and how large a UDP answer may be;
 * <li>{@link DnsForwarder} and {@link ForwardedQuery}: names outside the endpoint domain, with
 *     the upstream;
 * <li>{@link UdpQueryHandler}: the UDP socket; {@link TcpQueryHandler}: each TCP connection.
 * </ul>
 *
 * <p>Not an open amplifier: only a query is ever answered, by one answer, to its sender; a UDP
 * answer stays within the client's UDP size, which is at most {@value Edns#EDNS_UDP_PAYLOAD}
 * bytes; at most {@link Options#maxForwards} queries are with the upstream at a time, and beyond
 * that a query gets SERVFAIL at once. Still, with an upstream this is a recursive resolver for
 * everyone who reaches its address: bind it to an address only consumers reach.
 *
 * <h2>Bounds</h2>
 * Nothing is logged at INFO per packet: a spoofed-source flood would otherwise become a log
 * flood. Malformed queries are dropped (UDP) or end their connection (TCP) with one DEBUG line.
 * Upstream failures and a full forwarding limit are said at WARN at most once a
 * {@link DnsForwarder#WARN_INTERVAL}, otherwise at DEBUG. UDP answers are dropped while the
 * socket's outbound buffer is full (clients retry). A TCP connection has at most one query in
 * flight, and one that delivers no complete query for {@link #TCP_IDLE_TIMEOUT} is closed
 * ({@link TcpQueryHandler}). Queries over {@value #MAX_TCP_QUERY_BYTES} bytes end the
 * connection. Closing the server leaves forwarded queries to end at their timeout.
 *
 * <h2>Lookup</h2>
 * The lookup runs on the event loop for every query, so it must answer from memory and never
 * block (a volatile table, as the consumer routes keep). It gets the name lower-cased and
 * without the trailing dot; the answer repeats the name as asked (case included, RFC 4343).
 *
 * <p>Not an authoritative server for names outside the gateway's own, nor a caching resolver:
 * there is no zone file, no delegation, no DNSSEC, no cache (the upstream has one).
 */
public final class PrivateDnsServer implements AutoCloseable {
    /** A TCP connection without a complete query for this long is closed. */
    static final Duration TCP_IDLE_TIMEOUT = Duration.ofSeconds(10);
    /** How long a forwarded query waits for the upstream before SERVFAIL: stub resolvers retry after a few seconds. */
    static final Duration FORWARD_TIMEOUT = Duration.ofSeconds(2);
    /** The most forwarded queries with the upstream at once (each holds a socket); beyond that, SERVFAIL. */
    static final int MAX_FORWARDS = 256;
    /** The largest TCP query, and the most read from a connection at once: real queries have a few hundred bytes. */
    static final int MAX_TCP_QUERY_BYTES = 4096;
    /** How often {@link #bind} tries another port when asked for port 0 and TCP's is taken. */
    static final int BIND_ATTEMPTS = 5;

    /**
     * How the server answers names its lookup does not know, and its time limits.
     *
     * @param endpointDomain the domain of endpoint names (normalised: lower case, no trailing dot):
     *     unknown names under it are NXDOMAIN and never forwarded; null: none (every unknown name
     *     is refused), only without an upstream
     * @param upstream the recursive resolver other names are forwarded to; null: refuse them
     * @param forwardTimeout how long a forwarded query waits for the upstream (UDP and TCP together)
     * @param maxForwards the most forwarded queries with the upstream at once
     * @param tcpIdleTimeout a client's TCP connection without a complete query for this long is closed
     */
    record Options(
            String endpointDomain,
            InetSocketAddress upstream,
            Duration forwardTimeout,
            int maxForwards,
            Duration tcpIdleTimeout) {
        /** Refuses every name the lookup does not know, as before issue 4. */
        static final Options REFUSE = new Options(null, null, FORWARD_TIMEOUT, MAX_FORWARDS, TCP_IDLE_TIMEOUT);

        Options {
            if (endpointDomain != null) {
                endpointDomain = HostAndPort.normaliseName(endpointDomain.strip());
                if (endpointDomain.isEmpty() || endpointDomain.startsWith(".") || endpointDomain.contains("..")) {
                    throw new IllegalArgumentException("endpointDomain: '" + endpointDomain
                            + "' (expected: a DNS name such as endpoints.example.com)");
                }
            }
            if (upstream != null) {
                if (upstream.isUnresolved() || upstream.getPort() == 0) {
                    throw new IllegalArgumentException(
                            "upstream: " + upstream + " (expected: a resolved address and a port)");
                }
                if (endpointDomain == null) {
                    // Without it every unknown endpoint name would be forwarded: leaked to the upstream.
                    throw new IllegalArgumentException(
                            "endpointDomain: null (expected: the endpoint domain when forwarding to " + upstream + ")");
                }
            }
            requireNonNull(forwardTimeout, "forwardTimeout");
            if (forwardTimeout.isNegative() || forwardTimeout.isZero()) {
                throw new IllegalArgumentException("forwardTimeout: " + forwardTimeout + " (expected: > 0)");
            }
            if (maxForwards < 1) {
                throw new IllegalArgumentException("maxForwards: " + maxForwards + " (expected: >= 1)");
            }
            requireNonNull(tcpIdleTimeout, "tcpIdleTimeout");
            if (tcpIdleTimeout.isNegative() || tcpIdleTimeout.isZero()) {
                throw new IllegalArgumentException("tcpIdleTimeout: " + tcpIdleTimeout + " (expected: > 0)");
            }
        }

        /** The defaults for everything but the domain and the upstream. */
        static Options of(String endpointDomain, InetSocketAddress upstream) {
            return new Options(endpointDomain, upstream, FORWARD_TIMEOUT, MAX_FORWARDS, TCP_IDLE_TIMEOUT);
        }

        Options withForwardTimeout(Duration timeout) {
            return new Options(endpointDomain, upstream, timeout, maxForwards, tcpIdleTimeout);
        }

        Options withMaxForwards(int max) {
            return new Options(endpointDomain, upstream, forwardTimeout, max, tcpIdleTimeout);
        }

        Options withTcpIdleTimeout(Duration timeout) {
            return new Options(endpointDomain, upstream, forwardTimeout, maxForwards, timeout);
        }

        /** Whether {@code name} (normalised) is the endpoint domain or under it. */
        boolean ours(String name) {
            return endpointDomain != null
                    && (name.equals(endpointDomain)
                            || name.length() > endpointDomain.length() + 1
                                    && name.endsWith(endpointDomain)
                                    && name.charAt(name.length() - endpointDomain.length() - 1) == '.');
        }
    }

    private final Options options;
    private final DnsAnswers answers;
    private final DnsForwarder forwarder;
    private volatile Channel udp;
    private volatile Channel tcp;

    /**
     * Refuses every name the lookup does not know ({@link Options#REFUSE}).
     *
     * @param lookup the addresses of a name (lower case, no trailing dot); an empty list for a
     *     name that is not the gateway's
     */
    public PrivateDnsServer(Function<String, List<InetAddress>> lookup) {
        this(lookup, Options.REFUSE);
    }

    /**
     * @param lookup the addresses of a name (lower case, no trailing dot); an empty list for a
     *     name that is not the gateway's
     * @param endpointDomain the domain of endpoint names: unknown names under it are NXDOMAIN
     * @param upstream the recursive resolver other names are forwarded to; null: refuse them
     */
    public PrivateDnsServer(
            Function<String, List<InetAddress>> lookup, String endpointDomain, InetSocketAddress upstream) {
        this(lookup, Options.of(requireNonNull(endpointDomain, "endpointDomain"), upstream));
    }

    /** With every option, for tests. */
    public PrivateDnsServer(Function<String, List<InetAddress>> lookup, Options options) {
        requireNonNull(lookup, "lookup");
        this.options = requireNonNull(options, "options");
        this.answers = new DnsAnswers(lookup, options);
        this.forwarder = new DnsForwarder(options);
    }

    /**
     * Binds UDP and TCP to {@code address}. For port 0 UDP picks the port and TCP takes the same
     * one; if another socket holds it for TCP, both try again on a new port, up to
     * {@value #BIND_ATTEMPTS} times.
     *
     * <p>On a host with several addresses, bind a specific one: a UDP socket bound to the
     * wildcard answers from whichever address the route picks, and resolvers drop answers that
     * come from an address they did not ask.
     *
     * @return the address both are bound to
     * @throws BindException if UDP or TCP cannot be bound (nothing stays bound then)
     * @throws IllegalArgumentException if the upstream is this server itself (nothing stays bound)
     */
    public InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address)
            throws IOException, InterruptedException {
        requireNonNull(group, "group");
        requireNonNull(address, "address");
        if (udp != null) {
            throw new IllegalStateException("private DNS: already bound to " + udp.localAddress());
        }
        if (address.isUnresolved()) {
            throw new IllegalArgumentException("address: " + address + " (expected: a resolved address)");
        }
        int attempts = address.getPort() == 0 ? BIND_ATTEMPTS : 1;
        Throwable last = null;
        for (int attempt = 1; attempt <= attempts; attempt++) {
            ChannelFuture u = udpBootstrap(group).bind(address).await();
            if (!u.isSuccess()) {
                throw bindFailure("UDP", address, u.cause());
            }
            InetSocketAddress bound = new InetSocketAddress(
                    address.getAddress(), ((InetSocketAddress) u.channel().localAddress()).getPort());
            if (isSelf(options.upstream(), bound)) {
                // Every forwarded query would come back to be forwarded again, until the limit.
                u.channel().close().syncUninterruptibly();
                throw new IllegalArgumentException("upstream: " + options.upstream()
                        + " (expected: another DNS server than " + "this one, which listens on " + bound + ")");
            }
            ChannelFuture t = tcpBootstrap(group).bind(bound).await();
            if (t.isSuccess()) {
                udp = u.channel();
                tcp = t.channel();
                log.info("private DNS listening on {} (UDP and TCP): {}", bound, describe());
                return bound;
            }
            last = t.cause();
            u.channel().close().syncUninterruptibly();
            log.debug(
                    "private DNS: TCP port {} taken after UDP bound it (attempt {} of {}): {}",
                    bound.getPort(),
                    attempt,
                    attempts,
                    String.valueOf(last));
        }
        throw bindFailure("TCP", address, last);
    }

    /** What the bind line says about names the lookup does not know. */
    private String describe() {
        if (options.endpointDomain() == null) {
            return "unknown names are refused";
        }
        String ours = "unknown names under " + options.endpointDomain() + " are NXDOMAIN, ";
        if (options.upstream() == null) {
            return ours + "other names are refused";
        }
        // No space after the upstream's port: e2e's Tunnel reads ours with "listening on .*:(\\d+) ".
        return ours + "other names are forwarded to " + options.upstream() + ", at most " + options.maxForwards()
                + " at a time, SERVFAIL after " + options.forwardTimeout().toMillis() + " ms";
    }

    private static boolean isSelf(InetSocketAddress upstream, InetSocketAddress bound) {
        if (upstream == null || upstream.getPort() != bound.getPort()) {
            return false;
        }
        InetAddress u = upstream.getAddress();
        return u.equals(bound.getAddress())
                || bound.getAddress().isAnyLocalAddress() && (u.isLoopbackAddress() || u.isAnyLocalAddress());
    }

    private static BindException bindFailure(String protocol, InetSocketAddress address, Throwable cause) {
        BindException e = new BindException("private DNS: cannot bind " + protocol + " on " + address + ": "
                + (cause == null ? "unknown" : cause.getMessage()));
        e.initCause(cause);
        return e;
    }

    private Bootstrap udpBootstrap(EventLoopGroup group) {
        // Transport has no datagram channel yet; NIO matches the transport it names (Transport.name()).
        return new Bootstrap()
                .group(group)
                .channel(NioDatagramChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("decoder", new UdpQueryHandler.QueryDecoder());
                        ch.pipeline().addLast("encoder", new UdpQueryHandler.ResponseEncoder());
                        ch.pipeline().addLast("answer", new UdpQueryHandler(answers, forwarder));
                    }
                });
    }

    private ServerBootstrap tcpBootstrap(EventLoopGroup group) {
        return new ServerBootstrap()
                .group(group)
                .channel(Transport.serverChannel())
                // Bounds how many queries one read can bring while the connection answers one at a time.
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_TCP_QUERY_BYTES))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline()
                                .addLast(
                                        "decoder",
                                        new TcpDnsQueryDecoder(DnsRecordDecoder.DEFAULT, MAX_TCP_QUERY_BYTES));
                        ch.pipeline().addLast("encoder", new TcpDnsResponseEncoder());
                        ch.pipeline()
                                .addLast("answer", new TcpQueryHandler(answers, forwarder, options.tcpIdleTimeout()));
                    }
                });
    }

    /**
     * Closes both sockets; open TCP connections end at their idle timeout or with the event loop
     * group, forwarded queries at their timeout.
     */
    @Override
    public void close() {
        Channel u = udp;
        Channel t = tcp;
        if (u != null) {
            u.close().syncUninterruptibly();
        }
        if (t != null) {
            t.close().syncUninterruptibly();
        }
    }
}
