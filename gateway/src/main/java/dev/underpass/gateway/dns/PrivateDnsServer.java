package dev.underpass.gateway.dns;

import dev.underpass.gateway.consumer.ConsumerRoutes;
import dev.underpass.gateway.consumer.ConsumerRoutes;
import static java.util.Objects.requireNonNull;

import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.AddressedEnvelope;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DefaultDnsResponse;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordDecoder;
import io.netty.handler.codec.dns.DnsRecordEncoder;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.handler.codec.dns.TcpDnsQueryDecoder;
import io.netty.handler.codec.dns.TcpDnsResponseEncoder;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.BindException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small DNS server (RFC 1035) for the private names of endpoints, for consumers that cannot
 * use the forward proxy: it answers {@code A} and {@code AAAA} queries for the names its lookup
 * knows, over UDP and over TCP (RFC 7766, two-byte length prefix) on one address, and refuses or
 * forwards every other name ({@link Options}; issue 4).
 *
 * <h2>Answers</h2>
 * For a name the lookup knows: its IPv4 addresses for {@code A}, its IPv6 addresses for
 * {@code AAAA}, both for {@code ANY}, and NOERROR without answers (NODATA) for any other type
 * or when the name has no address of the asked family; every such answer has the AA flag and a
 * TTL of {@link #TTL}. No SOA is served, so NODATA answers are not cached negatively (RFC 2308
 * §5): that is fine for names that come and go with endpoints. A query with other than one
 * question is FORMERR, an opcode other than QUERY is NOTIMP, any class but IN is REFUSED, and a
 * lookup that throws gives SERVFAIL: none of these is ever forwarded.
 *
 * <p>A name the lookup does not know:
 * <ul>
 * <li>under the endpoint domain ({@link Options#endpointDomain}): NXDOMAIN with the AA flag, never
 *     forwarded, since the name is ours and telling the upstream would leak it; the domain itself
 *     gets NODATA. NXDOMAIN rather than REFUSED so that a stub resolver with a public server
 *     second in its list stops here instead of asking that one. An empty non-terminal (the
 *     {@code provider.domain} above {@code id.service.provider.domain}) strictly deserves NODATA
 *     (RFC 8020), but the lookup cannot tell which names have names below them; as no SOA comes
 *     with the NXDOMAIN, resolvers do not cache it (RFC 2308 §5) and so hide nothing below it.
 * <li>elsewhere, without an upstream: REFUSED, since this server is then no recursive resolver,
 *     so a consumer's resolver moves on to its next server (or a forwarding zone sends only the
 *     endpoint domain here).
 * <li>elsewhere, with an upstream: forwarded (below).
 * </ul>
 *
 * <h2>Forwarding</h2>
 * A forwarded query goes to the upstream recursive resolver as the client sent it (question,
 * flags and records, the OPT record's UDP size capped at {@value #EDNS_UDP_PAYLOAD}), with a
 * random id, from a new socket with a port of the kernel's choosing (so that an off-path attacker
 * has id and port to guess, RFC 5452). Its answer goes back to the client as the upstream sent it,
 * with the client's id; an answer that does not carry our id and question is ignored. A UDP query
 * goes over UDP; an answer with TC is asked again over TCP, and that answer replaces it if it fits
 * the client's UDP size, so the client is told to come back over TCP only when it has to. A TCP
 * query goes over TCP. A query without an answer within {@link Options#forwardTimeout} (both
 * tries together), or one the upstream refuses the connection for, gets SERVFAIL.
 *
 * <p>Not an open amplifier: only a query is ever answered, by one answer, to its sender; a UDP
 * answer stays within the client's UDP size, which is at most {@value #EDNS_UDP_PAYLOAD} bytes;
 * at most {@link Options#maxForwards} queries are with the upstream at a time, and beyond that a
 * query gets SERVFAIL at once. Still, with an upstream this is a recursive resolver for everyone
 * who reaches its address: bind it to an address only consumers reach.
 *
 * <h2>EDNS</h2>
 * Minimal EDNS(0) (RFC 6891): a query with one OPT record gets one back, advertising
 * {@value #EDNS_UDP_PAYLOAD} bytes (the DNS flag day 2020 size), and its UDP answer may use up
 * to that size; version above 0 gets BADVERS; two OPT records are FORMERR. Without EDNS a UDP
 * answer stays within {@value #UDP_PAYLOAD} bytes. An answer that does not fit carries the
 * records that do and sets TC, so the client asks again over TCP, where up to 64 KiB fit.
 * Forwarded answers carry the upstream's OPT record, not ours.
 *
 * <h2>Bounds</h2>
 * Nothing is logged at INFO per packet: a spoofed-source flood would otherwise become a log
 * flood. Malformed queries are dropped (UDP) or end their connection (TCP) with one DEBUG line.
 * Upstream failures and a full forwarding limit are said at WARN at most once a
 * {@link #WARN_INTERVAL}, otherwise at DEBUG. UDP answers are dropped while the socket's
 * outbound buffer is full (clients retry). A TCP connection has at most one query in flight:
 * reading pauses until its answer is written, and the queries that came in the same read (of at
 * most {@value #MAX_TCP_QUERY_BYTES} bytes, so a few hundred) wait their turn; pipelining clients
 * get their answers in order. A connection that delivers no complete query for
 * {@link #TCP_IDLE_TIMEOUT} (counted again from each forwarded answer) is closed, which also ends
 * slow writers and clients that do not read their answers (RFC 7766 §6.2.3 asks for timeouts of
 * seconds). Queries over {@value #MAX_TCP_QUERY_BYTES} bytes end the connection. Closing the
 * server leaves forwarded queries to end at their timeout.
 *
 * <h2>Lookup</h2>
 * The lookup runs on the event loop for every query, so it must answer from memory and never
 * block (a volatile table, as {@link ConsumerRoutes} keeps). It gets the name lower-cased and
 * without the trailing dot; the answer repeats the name as asked (case included, RFC 4343).
 *
 * <p>Not an authoritative server for names outside the gateway's own, nor a caching resolver:
 * there is no zone file, no delegation, no DNSSEC, no cache (the upstream has one).
 */
public final class PrivateDnsServer implements AutoCloseable {
    static final Logger log = LoggerFactory.getLogger("underpass.gateway.dns");
    /** How long resolvers may cache an answer: short, since endpoints come and go. */
    static final Duration TTL = Duration.ofSeconds(30);
    /** A TCP connection without a complete query for this long is closed. */
    static final Duration TCP_IDLE_TIMEOUT = Duration.ofSeconds(10);
    /** How long a forwarded query waits for the upstream before SERVFAIL: stub resolvers retry after a few seconds. */
    static final Duration FORWARD_TIMEOUT = Duration.ofSeconds(2);
    /** The most forwarded queries with the upstream at once (each holds a socket); beyond that, SERVFAIL. */
    static final int MAX_FORWARDS = 256;
    /** Upstream failures and a full forwarding limit are said at WARN at most this often. */
    static final Duration WARN_INTERVAL = Duration.ofMinutes(1);
    /** The largest UDP answer without EDNS (RFC 1035 §4.2.1). */
    static final int UDP_PAYLOAD = 512;
    /** The largest UDP answer with EDNS, and the size this server advertises. */
    static final int EDNS_UDP_PAYLOAD = 1232;
    /** The largest TCP answer (the two-byte length prefix). */
    static final int TCP_PAYLOAD = 65535;
    /** The largest TCP query, and the most read from a connection at once: real queries have a few hundred bytes. */
    static final int MAX_TCP_QUERY_BYTES = 4096;
    /** How often {@link #bind} tries another port when asked for port 0 and TCP's is taken. */
    static final int BIND_ATTEMPTS = 5;

    private static final int HEADER_BYTES = 12;
    private static final int OPT_RECORD_BYTES = 11;
    /** RFC 6891 §9: BADVERS is extended RCODE 16, i.e. 1 in the OPT record's upper eight bits. */
    private static final long OPT_BADVERS = 1L << 24;
    private static final int FLAG_QR = 0x8000;
    private static final int FLAG_TC = 0x0200;
    /** Upstream UDP answers are read into buffers this large: more than any UDP size we let the upstream use. */
    private static final int UPSTREAM_UDP_BUFFER = 4096;
    private static final SecureRandom IDS = new SecureRandom();

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
    record Options(String endpointDomain, InetSocketAddress upstream, Duration forwardTimeout, int maxForwards,
            Duration tcpIdleTimeout) {
        /** Refuses every name the lookup does not know, as before issue 4. */
        static final Options REFUSE = new Options(null, null, FORWARD_TIMEOUT, MAX_FORWARDS, TCP_IDLE_TIMEOUT);

        Options {
            if (endpointDomain != null) {
                endpointDomain = ConsumerRoutes.normalise(endpointDomain.strip());
                if (endpointDomain.isEmpty() || endpointDomain.startsWith(".") || endpointDomain.contains("..")) {
                    throw new IllegalArgumentException("endpointDomain: '" + endpointDomain
                            + "' (expected: a DNS name such as endpoints.example.com)");
                }
            }
            if (upstream != null) {
                if (upstream.isUnresolved() || upstream.getPort() == 0) {
                    throw new IllegalArgumentException("upstream: " + upstream + " (expected: a resolved address and a port)");
                }
                if (endpointDomain == null) {
                    // Without it every unknown endpoint name would be forwarded: leaked to the upstream.
                    throw new IllegalArgumentException("endpointDomain: null (expected: the endpoint domain when forwarding to "
                            + upstream + ")");
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
            return endpointDomain != null && (name.equals(endpointDomain)
                    || name.length() > endpointDomain.length() + 1 && name.endsWith(endpointDomain)
                    && name.charAt(name.length() - endpointDomain.length() - 1) == '.');
        }
    }

    private final Function<String, List<InetAddress>> lookup;
    private final Options options;
    private final AtomicBoolean lookupFailureLogged = new AtomicBoolean();
    private final AtomicInteger forwarding = new AtomicInteger();
    private final AtomicLong nextWarnNanos = new AtomicLong(System.nanoTime());
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
    public PrivateDnsServer(Function<String, List<InetAddress>> lookup, String endpointDomain, InetSocketAddress upstream) {
        this(lookup, Options.of(requireNonNull(endpointDomain, "endpointDomain"), upstream));
    }

    /** With every option, for tests. */
    public PrivateDnsServer(Function<String, List<InetAddress>> lookup, Options options) {
        this.lookup = requireNonNull(lookup, "lookup");
        this.options = requireNonNull(options, "options");
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
    public InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws IOException, InterruptedException {
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
            InetSocketAddress bound = new InetSocketAddress(address.getAddress(),
                    ((InetSocketAddress) u.channel().localAddress()).getPort());
            if (isSelf(options.upstream(), bound)) {
                // Every forwarded query would come back to be forwarded again, until the limit.
                u.channel().close().syncUninterruptibly();
                throw new IllegalArgumentException("upstream: " + options.upstream() + " (expected: another DNS server than "
                        + "this one, which listens on " + bound + ")");
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
            log.debug("private DNS: TCP port {} taken after UDP bound it (attempt {} of {}): {}", bound.getPort(), attempt,
                    attempts, String.valueOf(last));
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
                        ch.pipeline().addLast("decoder", new UdpQueryDecoder());
                        ch.pipeline().addLast("encoder", new UdpResponseEncoder());
                        ch.pipeline().addLast("answer", new UdpAnswerer());
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
                        ch.pipeline().addLast("decoder", new TcpDnsQueryDecoder(DnsRecordDecoder.DEFAULT, MAX_TCP_QUERY_BYTES));
                        ch.pipeline().addLast("encoder", new TcpDnsResponseEncoder());
                        ch.pipeline().addLast("answer", new TcpAnswerer());
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

    /**
     * Fills {@code response} (already carrying the query's id and opcode) with the answer to
     * {@code query}, within the UDP payload size or {@link #TCP_PAYLOAD}.
     *
     * @return true if the query is to be forwarded instead: {@code response} then holds the
     *     question, the RD flag and our OPT record only, to be sent with SERVFAIL should forwarding fail
     */
    private boolean answer(DnsQuery query, DnsResponse response, boolean overUdp, Object from) {
        response.setRecursionDesired(query.isRecursionDesired());
        response.setRecursionAvailable(options.upstream() != null);
        if (!DnsOpCode.QUERY.equals(query.opCode())) {
            response.setCode(DnsResponseCode.NOTIMP);
            return false;
        }
        if (query.count(DnsSection.QUESTION) != 1) {
            response.setCode(DnsResponseCode.FORMERR);
            return false;
        }
        DnsRecord opt = null;
        for (int i = 0; i < query.count(DnsSection.ADDITIONAL); i++) {
            DnsRecord r = query.recordAt(DnsSection.ADDITIONAL, i);
            if (DnsRecordType.OPT.equals(r.type())) {
                if (opt != null) {
                    response.setCode(DnsResponseCode.FORMERR);
                    return false;
                }
                opt = r;
            }
        }
        DnsQuestion question = query.recordAt(DnsSection.QUESTION);
        response.addRecord(DnsSection.QUESTION, question);
        if (opt != null && (opt.timeToLive() >> 16 & 0xff) != 0) {
            response.addRecord(DnsSection.ADDITIONAL, opt(OPT_BADVERS));
            return false;
        }
        int limit = overUdp ? udpLimit(opt) : TCP_PAYLOAD;
        int size = HEADER_BYTES + nameBytes(question.name()) + 4 + (opt == null ? 0 : OPT_RECORD_BYTES);
        if (opt != null) {
            response.addRecord(DnsSection.ADDITIONAL, opt(0));
        }
        if (question.dnsClass() != DnsRecord.CLASS_IN) {
            response.setCode(DnsResponseCode.REFUSED);
            return false;
        }
        String name = ConsumerRoutes.normalise(question.name());
        List<InetAddress> addresses;
        try {
            addresses = lookup.apply(name);
        } catch (RuntimeException e) {
            // A bug in the lookup, not the client's doing: said once at WARN, then at DEBUG, since
            // every query would repeat it.
            if (lookupFailureLogged.compareAndSet(false, true)) {
                log.warn("private DNS: lookup of {} failed (answering SERVFAIL; further failures at DEBUG)", printable(name), e);
            } else {
                log.debug("private DNS: lookup of {} failed", printable(name), e);
            }
            response.setCode(DnsResponseCode.SERVFAIL);
            return false;
        }
        if (addresses == null || addresses.isEmpty()) {
            if (options.ours(name)) {
                // Ours, so never forwarded (that would leak it); see the class comment for NXDOMAIN.
                log.debug("private DNS: {} {} from {}: no such endpoint name", question.type().name(), printable(name), from);
                response.setAuthoritativeAnswer(true);
                if (!name.equals(options.endpointDomain())) {
                    response.setCode(DnsResponseCode.NXDOMAIN);
                }
                return false;
            }
            if (options.upstream() != null) {
                return true;
            }
            log.debug("private DNS: {} {} from {} refused: not an endpoint name", question.type().name(), printable(name), from);
            response.setCode(DnsResponseCode.REFUSED);
            return false;
        }
        response.setAuthoritativeAnswer(true);
        DnsRecordType type = question.type();
        boolean a = DnsRecordType.A.equals(type) || DnsRecordType.ANY.equals(type);
        boolean aaaa = DnsRecordType.AAAA.equals(type) || DnsRecordType.ANY.equals(type);
        int nameBytes = nameBytes(question.name());
        for (InetAddress address : addresses) {
            DnsRecordType recordType;
            if (address instanceof Inet4Address && a) {
                recordType = DnsRecordType.A;
            } else if (address instanceof Inet6Address && aaaa) {
                recordType = DnsRecordType.AAAA;
            } else {
                continue;
            }
            byte[] data = address.getAddress();
            int recordBytes = nameBytes + 10 + data.length;
            if (size + recordBytes > limit) {
                response.setTruncated(true);
                break;
            }
            size += recordBytes;
            response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(), recordType, TTL.toSeconds(),
                    Unpooled.wrappedBuffer(data)));
        }
        return false;
    }

    /** The largest UDP answer a client takes: {@value #UDP_PAYLOAD} without EDNS, else its size, at most ours. */
    private static int udpLimit(DnsRecord opt) {
        return opt == null ? UDP_PAYLOAD : Math.max(UDP_PAYLOAD, Math.min(EDNS_UDP_PAYLOAD, opt.dnsClass() & 0xffff));
    }

    private static DnsRecord optOf(DnsQuery query) {
        for (int i = 0; i < query.count(DnsSection.ADDITIONAL); i++) {
            DnsRecord r = query.recordAt(DnsSection.ADDITIONAL, i);
            if (DnsRecordType.OPT.equals(r.type())) {
                return r;
            }
        }
        return null;
    }

    /** An OPT pseudo-record (RFC 6891 §6.1.2): our UDP size in the class, extended RCODE and flags in the TTL. */
    private static DnsRecord opt(long extendedRcodeVersionFlags) {
        return new DefaultDnsRawRecord(".", DnsRecordType.OPT, EDNS_UDP_PAYLOAD, extendedRcodeVersionFlags, Unpooled.EMPTY_BUFFER);
    }

    /** Wire length of a name as Netty writes it (no compression): a length byte per label, then the root. */
    private static int nameBytes(String name) {
        if (name.equals(".") || name.isEmpty()) {
            return 1;
        }
        return name.length() + (name.endsWith(".") ? 1 : 2);
    }

    /** Names come from the network: keep control characters and the like out of log lines. */
    static String printable(String name) {
        StringBuilder b = new StringBuilder(Math.min(name.length(), 256));
        for (int i = 0; i < name.length() && i < 256; i++) {
            char c = name.charAt(i);
            b.append(c >= 0x21 && c < 0x7f ? c : '?');
        }
        return b.toString();
    }

    /** WARN at most once a {@link #WARN_INTERVAL}, DEBUG otherwise: what causes it may repeat with every query. */
    private void warnRarely(String format, Object... args) {
        long now = System.nanoTime();
        long next = nextWarnNanos.get();
        if (now - next >= 0 && nextWarnNanos.compareAndSet(next, now + WARN_INTERVAL.toNanos())) {
            log.warn(format + " (said at most once a minute at WARN, otherwise at DEBUG)", args);
        } else {
            log.debug(format, args);
        }
    }

    // --- forwarding ---

    /**
     * Forwards {@code query} (which the caller may release once this returns) to the upstream.
     * {@code reply} is called once, on {@code loop}, with either the upstream's answer as a
     * {@link ByteBuf} carrying the client's id, or {@code pending} with SERVFAIL or TC set; it
     * owns what it gets.
     *
     * @param udpLimit the client's UDP size, or 0 for a client over TCP
     */
    private void forward(EventLoop loop, DnsQuery query, DnsResponse pending, int udpLimit, Object from,
            Consumer<Object> reply) {
        String what = query.recordAt(DnsSection.QUESTION).type().name() + " "
                + printable(ConsumerRoutes.normalise(query.recordAt(DnsSection.QUESTION).name()));
        if (forwarding.incrementAndGet() > options.maxForwards()) {
            forwarding.decrementAndGet();
            warnRarely("private DNS: {} from {} answered SERVFAIL: {} queries already with the upstream {}", what, from,
                    options.maxForwards(), options.upstream());
            reply.accept(pending.setCode(DnsResponseCode.SERVFAIL));
            return;
        }
        int id = IDS.nextInt(0x10000);
        ByteBuf message = ByteBufAllocator.DEFAULT.buffer(128);
        int questionBytes;
        try {
            questionBytes = encodeQuery(query, id, message);
        } catch (Exception e) {
            // A record Netty decoded but cannot encode again: not worth the upstream's time.
            message.release();
            forwarding.decrementAndGet();
            log.debug("private DNS: {} from {} answered SERVFAIL: cannot encode it for the upstream: {}", what, from,
                    e.toString());
            reply.accept(pending.setCode(DnsResponseCode.SERVFAIL));
            return;
        }
        new Forward(loop, message, id, questionBytes, query.id(), pending, udpLimit, what + " from " + from, reply).start();
    }

    /**
     * Writes {@code query} with {@code id} to {@code buf} as the client sent it: its flags (RD and
     * the Z, AD and CD bits, which Netty's encoder drops) and every record, with the OPT record's
     * UDP size capped as for our own answers.
     *
     * @return the length of the question section, which the upstream's answer must repeat
     */
    private static int encodeQuery(DnsQuery query, int id, ByteBuf buf) throws Exception {
        buf.writeShort(id);
        buf.writeShort((query.opCode().byteValue() & 0xf) << 11 | (query.isRecursionDesired() ? 1 << 8 : 0)
                | (query.z() & 0x7) << 4);
        DnsSection[] sections = {DnsSection.QUESTION, DnsSection.ANSWER, DnsSection.AUTHORITY, DnsSection.ADDITIONAL};
        for (DnsSection section : sections) {
            buf.writeShort(query.count(section));
        }
        DnsRecordEncoder.DEFAULT.encodeQuestion(query.recordAt(DnsSection.QUESTION), buf);
        int questionBytes = buf.writerIndex() - HEADER_BYTES;
        for (int s = 1; s < sections.length; s++) {
            for (int i = 0; i < query.count(sections[s]); i++) {
                DnsRecord r = query.recordAt(sections[s], i);
                if (DnsRecordType.OPT.equals(r.type()) && r instanceof DnsRawRecord raw) {
                    // The upstream's UDP answer is relayed as it is, so it must fit what we let the client have.
                    ByteBuf ednsOptions = raw.content();
                    buf.writeByte(0).writeShort(DnsRecordType.OPT.intValue()).writeShort(udpLimit(r))
                            .writeInt((int) r.timeToLive()).writeShort(ednsOptions.readableBytes())
                            .writeBytes(ednsOptions, ednsOptions.readerIndex(), ednsOptions.readableBytes());
                } else {
                    DnsRecordEncoder.DEFAULT.encodeRecord(r, buf);
                }
            }
        }
        return questionBytes;
    }

    /**
     * One query with the upstream: over UDP (then TCP after TC) for a UDP client, over TCP for a
     * TCP client. Runs on the client channel's event loop, as do its upstream channels and its
     * timeout, so its state needs no locks; {@link #finish} runs once and releases everything.
     */
    private final class Forward {
        private final EventLoop loop;
        private final ByteBuf message;
        private final int id;
        private final int questionBytes;
        private final int clientId;
        private final DnsResponse pending;
        private final int udpLimit;
        private final String what;
        private final Consumer<Object> reply;
        private final long startNanos = System.nanoTime();
        private ScheduledFuture<?> timeout;
        private Channel upstreamUdp;
        private Channel upstreamTcp;
        /** The UDP answer with TC, relayed if TCP brings nothing that fits. */
        private ByteBuf truncated;
        private boolean done;

        Forward(EventLoop loop, ByteBuf message, int id, int questionBytes, int clientId, DnsResponse pending, int udpLimit,
                String what, Consumer<Object> reply) {
            this.loop = loop;
            this.message = message;
            this.id = id;
            this.questionBytes = questionBytes;
            this.clientId = clientId;
            this.pending = pending;
            this.udpLimit = udpLimit;
            this.what = what;
            this.reply = reply;
        }

        void start() {
            timeout = loop.schedule(() -> fail("timeout", null), options.forwardTimeout().toMillis(), TimeUnit.MILLISECONDS);
            if (udpLimit > 0) {
                sendUdp();
            } else {
                sendTcp();
            }
        }

        private void sendUdp() {
            ChannelFuture connect = new Bootstrap()
                    .group(loop)
                    .channel(NioDatagramChannel.class)
                    .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(UPSTREAM_UDP_BUFFER))
                    .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
                            udpAnswer(packet.content());
                        }

                        @Override
                        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                            // An ICMP port unreachable comes here: no need to wait for the timeout.
                            fail("udp", cause);
                        }
                    })
                    // Connected: the kernel drops datagrams from any other address than the upstream's.
                    .connect(options.upstream());
            upstreamUdp = connect.channel();
            connect.addListener(f -> {
                if (!f.isSuccess()) {
                    fail("udp, connect", f.cause());
                } else if (!done) {
                    upstreamUdp.writeAndFlush(message.retainedDuplicate()).addListener(w -> {
                        if (!w.isSuccess()) {
                            fail("udp, send", w.cause());
                        }
                    });
                }
            });
        }

        private void udpAnswer(ByteBuf answer) {
            if (done) {
                return;
            }
            String mismatch = mismatch(answer);
            if (mismatch != null) {
                // Late, spoofed or broken: keep waiting for the real one until the timeout.
                log.debug("private DNS: {}: UDP datagram from the upstream {} ignored: {}", what, options.upstream(), mismatch);
                return;
            }
            if ((answer.getUnsignedShort(answer.readerIndex() + 2) & FLAG_TC) != 0) {
                truncated = relayed(answer);
                upstreamUdp.close();
                sendTcp();
                return;
            }
            succeed(relayed(answer));
        }

        private void sendTcp() {
            ChannelFuture connect = new Bootstrap()
                    .group(loop)
                    .channel(Transport.socketChannel())
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast("frames", new LengthFieldBasedFrameDecoder(2 + TCP_PAYLOAD, 0, 2, 0, 2));
                            ch.pipeline().addLast("answer", new SimpleChannelInboundHandler<ByteBuf>() {
                                @Override
                                protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
                                    tcpAnswer(frame);
                                }

                                @Override
                                public void channelInactive(ChannelHandlerContext ctx) {
                                    fail("tcp, closed without an answer", null);
                                }

                                @Override
                                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                    fail("tcp", cause);
                                }
                            });
                        }
                    })
                    .connect(options.upstream());
            upstreamTcp = connect.channel();
            connect.addListener(f -> {
                if (!f.isSuccess()) {
                    fail("tcp, connect", f.cause());
                } else if (!done) {
                    ByteBuf frame = Unpooled.wrappedBuffer(Unpooled.buffer(2).writeShort(message.readableBytes()),
                            message.retainedDuplicate());
                    upstreamTcp.writeAndFlush(frame).addListener(w -> {
                        if (!w.isSuccess()) {
                            fail("tcp, send", w.cause());
                        }
                    });
                }
            });
        }

        private void tcpAnswer(ByteBuf answer) {
            if (done) {
                return;
            }
            String mismatch = mismatch(answer);
            if (mismatch != null) {
                fail("tcp, not an answer to our query: " + mismatch, null);
                return;
            }
            succeed(relayed(answer));
        }

        /** Null if {@code answer} is the upstream's answer to our query, else what is wrong with it. */
        private String mismatch(ByteBuf answer) {
            int at = answer.readerIndex();
            if (answer.readableBytes() < HEADER_BYTES) {
                return answer.readableBytes() + " bytes, shorter than a header";
            }
            int flags = answer.getUnsignedShort(at + 2);
            if (answer.getUnsignedShort(at) != id || (flags & FLAG_QR) == 0) {
                return "not an answer with our id";
            }
            int questions = answer.getUnsignedShort(at + 4);
            if (questions == 0 && (flags & 0xf) != 0) {
                return null; // an error may come without the question (RFC 1035 leaves it open)
            }
            if (questions != 1 || answer.readableBytes() < HEADER_BYTES + questionBytes) {
                return "another question";
            }
            for (int i = 0; i < questionBytes; i++) {
                // Resolvers echo the question as asked; case aside (label lengths are below 'A').
                byte ours = message.getByte(message.readerIndex() + HEADER_BYTES + i);
                byte theirs = answer.getByte(at + HEADER_BYTES + i);
                if (lower(ours) != lower(theirs)) {
                    return "another question";
                }
            }
            return null;
        }

        private static int lower(byte b) {
            return b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b;
        }

        /** A copy of {@code answer} with the client's id. */
        private ByteBuf relayed(ByteBuf answer) {
            ByteBuf copy = ByteBufAllocator.DEFAULT.buffer(answer.readableBytes()).writeBytes(answer, answer.readerIndex(),
                    answer.readableBytes());
            return copy.setShort(0, clientId);
        }

        private void succeed(ByteBuf answer) {
            if (udpLimit > 0 && answer.readableBytes() > udpLimit) {
                // Too large for the client's UDP: the TCP answer after a TC, or an upstream that
                // ignored the UDP size. The client asks again over TCP.
                answer.release();
                if (truncated != null && truncated.readableBytes() <= udpLimit) {
                    finish(truncated, "truncated");
                } else {
                    finish(pending.setTruncated(true), "truncated, without records");
                }
                return;
            }
            finish(answer, "answered");
        }

        private void fail(String stage, Throwable cause) {
            if (done) {
                return;
            }
            String reason = stage + (cause == null ? "" : ": " + cause);
            if (truncated != null && truncated.readableBytes() <= udpLimit) {
                // TCP failed after a truncated UDP answer: that one still tells the client something.
                log.debug("private DNS: {}: TCP to the upstream {} failed ({}), relaying the truncated UDP answer", what,
                        options.upstream(), reason);
                finish(truncated, "truncated");
                return;
            }
            warnRarely("private DNS: {} answered SERVFAIL: dns, gateway => upstream {}, {} after {} ms", what,
                    options.upstream(), reason, elapsedMillis());
            finish(pending.setCode(DnsResponseCode.SERVFAIL), "SERVFAIL");
        }

        private long elapsedMillis() {
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
        }

        private void finish(Object result, String outcome) {
            done = true;
            forwarding.decrementAndGet();
            timeout.cancel(false);
            if (upstreamUdp != null) {
                upstreamUdp.close();
            }
            if (upstreamTcp != null) {
                upstreamTcp.close();
            }
            message.release();
            if (truncated != null && truncated != result) {
                truncated.release();
            }
            truncated = null;
            if (result != pending) {
                pending.release();
            }
            log.debug("private DNS: {} forwarded to {}: {} in {} ms", what, options.upstream(), outcome, elapsedMillis());
            reply.accept(result);
        }
    }

    // --- client side ---

    /** Netty's decoder, with a malformed datagram dropped and said at DEBUG with its sender. */
    private static final class UdpQueryDecoder extends DatagramDnsQueryDecoder {
        @Override
        protected void decode(ChannelHandlerContext ctx, DatagramPacket packet, List<Object> out) {
            int bytes = packet.content().readableBytes();
            try {
                super.decode(ctx, packet, out);
            } catch (Exception e) {
                // Also a response sent to us ("not a query"): answering it could start a loop.
                log.debug("private DNS: malformed query of {} bytes from {} dropped: {}", bytes, packet.sender(), e.toString());
            }
        }
    }

    /** Netty's encoder, letting relayed answers (datagrams of bytes, also addressed envelopes) pass as they are. */
    private static final class UdpResponseEncoder extends DatagramDnsResponseEncoder {
        @Override
        public boolean acceptOutboundMessage(Object msg) {
            return msg instanceof AddressedEnvelope<?, ?> envelope && envelope.content() instanceof DnsResponse;
        }
    }

    private final class UdpAnswerer extends SimpleChannelInboundHandler<DatagramDnsQuery> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery query) {
            if (!ctx.channel().isWritable()) {
                // The kernel does not take our datagrams as fast as queries come: drop rather than queue.
                log.debug("private DNS: answer to {} dropped: UDP outbound buffer full", query.sender());
                return;
            }
            InetSocketAddress client = query.sender();
            DatagramDnsResponse response = new DatagramDnsResponse(query.recipient(), client, query.id(), query.opCode());
            boolean forward;
            try {
                forward = answer(query, response, true, client);
            } catch (RuntimeException e) {
                response.release();
                throw e;
            }
            if (forward) {
                forward(ctx.channel().eventLoop(), query, response, udpLimit(optOf(query)), client,
                        reply -> send(ctx, reply instanceof ByteBuf answer ? new DatagramPacket(answer, client) : reply, client));
            } else {
                send(ctx, response, client);
            }
        }

        private void send(ChannelHandlerContext ctx, Object answer, InetSocketAddress client) {
            if (!ctx.channel().isWritable()) {
                log.debug("private DNS: answer to {} dropped: UDP outbound buffer full", client);
                ReferenceCountUtil.release(answer);
                return;
            }
            ctx.writeAndFlush(answer).addListener(f -> {
                if (!f.isSuccess()) {
                    log.debug("private DNS: answer to {} not sent: {}", client, f.cause().toString());
                }
            });
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // Never close: the one UDP socket serves every client.
            log.debug("private DNS: UDP error: {}", cause.toString());
        }
    }

    /** One TCP connection: answers its queries in order, one at a time. */
    private final class TcpAnswerer extends ChannelInboundHandlerAdapter {
        private final ArrayDeque<DnsQuery> waiting = new ArrayDeque<>();
        private boolean writing;
        private ScheduledFuture<?> idle;

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            restartIdleTimer(ctx);
            super.channelActive(ctx);
        }

        private void restartIdleTimer(ChannelHandlerContext ctx) {
            if (idle != null) {
                idle.cancel(false);
            }
            long millis = options.tcpIdleTimeout().toMillis();
            idle = ctx.executor().schedule(() -> {
                log.debug("private DNS: TCP connection from {} closed: no complete query within {}s",
                        ctx.channel().remoteAddress(), millis / 1000.0);
                ctx.close();
            }, millis, TimeUnit.MILLISECONDS);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof DnsQuery query)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            restartIdleTimer(ctx);
            waiting.add(query);
            ctx.channel().config().setAutoRead(false);
            if (!writing) {
                answerNext(ctx);
            }
        }

        private void answerNext(ChannelHandlerContext ctx) {
            DnsQuery query = waiting.poll();
            if (query == null) {
                ctx.channel().config().setAutoRead(true);
                return;
            }
            Object from = ctx.channel().remoteAddress();
            DnsResponse response = new DefaultDnsResponse(query.id(), query.opCode());
            try {
                if (answer(query, response, false, from)) {
                    writing = true;
                    forward(ctx.channel().eventLoop(), query, response, 0, from, reply -> {
                        // The wait was the upstream's, not the client's.
                        restartIdleTimer(ctx);
                        send(ctx, reply instanceof ByteBuf answer ? frame(answer) : reply, from);
                    });
                    return;
                }
            } catch (RuntimeException e) {
                response.release();
                throw e;
            } finally {
                query.release();
            }
            writing = true;
            send(ctx, response, from);
        }

        /** A relayed answer with its two-byte length (RFC 7766 §8). */
        private static ByteBuf frame(ByteBuf answer) {
            return Unpooled.wrappedBuffer(Unpooled.buffer(2).writeShort(answer.readableBytes()), answer);
        }

        private void send(ChannelHandlerContext ctx, Object answer, Object from) {
            if (!ctx.channel().isActive()) {
                // Closed while the upstream answered (idle timeout, client gone): nothing to write to.
                ReferenceCountUtil.release(answer);
                return;
            }
            ctx.writeAndFlush(answer).addListener(f -> {
                writing = false;
                if (f.isSuccess()) {
                    answerNext(ctx);
                } else {
                    log.debug("private DNS: TCP answer to {} not sent, closing: {}", from, f.cause().toString());
                    ctx.close();
                }
            });
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            if (idle != null) {
                idle.cancel(false);
            }
            DnsQuery q;
            while ((q = waiting.poll()) != null) {
                q.release();
            }
            super.channelInactive(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("private DNS: TCP connection from {} closed: {}", ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }
}
