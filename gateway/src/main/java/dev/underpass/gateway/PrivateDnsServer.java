package dev.underpass.gateway;

import static java.util.Objects.requireNonNull;

import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DefaultDnsResponse;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordDecoder;
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
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small authoritative DNS server (RFC 1035) for the private names of endpoints, for consumers
 * that cannot use the forward proxy: it answers {@code A} and {@code AAAA} queries for the names
 * its lookup knows, over UDP and over TCP (RFC 7766, two-byte length prefix) on one address.
 *
 * <h2>Answers</h2>
 * For a name the lookup knows: its IPv4 addresses for {@code A}, its IPv6 addresses for
 * {@code AAAA}, both for {@code ANY}, and NOERROR without answers (NODATA) for any other type
 * or when the name has no address of the asked family; every such answer has the AA flag and a
 * TTL of {@link #TTL}. No SOA is served, so NODATA answers are not cached negatively (RFC 2308
 * §5): that is fine for names that come and go with endpoints. A name the lookup does not know
 * is REFUSED, as is any class but IN: this server is not a recursive resolver and forwards
 * nothing, so a consumer's resolver moves on to its next server (or a forwarding zone sends only
 * the endpoint domain here). A query with other than one question is FORMERR, an opcode other
 * than QUERY is NOTIMP, and a lookup that throws gives SERVFAIL.
 *
 * <h2>EDNS</h2>
 * Minimal EDNS(0) (RFC 6891): a query with one OPT record gets one back, advertising
 * {@value #EDNS_UDP_PAYLOAD} bytes (the DNS flag day 2020 size), and its UDP answer may use up
 * to that size; version above 0 gets BADVERS; two OPT records are FORMERR. Without EDNS a UDP
 * answer stays within {@value #UDP_PAYLOAD} bytes. An answer that does not fit carries the
 * records that do and sets TC, so the client asks again over TCP, where up to 64 KiB fit.
 *
 * <h2>Bounds</h2>
 * Nothing is logged at INFO per packet: a spoofed-source flood would otherwise become a log
 * flood. Malformed queries are dropped (UDP) or end their connection (TCP) with one DEBUG line.
 * UDP answers are dropped while the socket's outbound buffer is full (clients retry). A TCP
 * connection has at most one query in flight: reading pauses until its answer is written, and
 * the queries that came in the same read (of at most {@value #MAX_TCP_QUERY_BYTES} bytes, so a
 * few hundred) wait their turn; pipelining clients get their answers in order. A connection that
 * delivers no complete query for {@link #TCP_IDLE_TIMEOUT} is closed, which also ends slow
 * writers and clients that do not read their answers (RFC 7766 §6.2.3 asks for timeouts of
 * seconds). Queries over {@value #MAX_TCP_QUERY_BYTES} bytes end the connection.
 *
 * <h2>Lookup</h2>
 * The lookup runs on the event loop for every query, so it must answer from memory and never
 * block (a volatile table, as {@link ConsumerRoutes} keeps). It gets the name lower-cased and
 * without the trailing dot; the answer repeats the name as asked (case included, RFC 4343).
 *
 * <p>Not for names outside the gateway's own: there is no zone file, no delegation, no DNSSEC.
 */
final class PrivateDnsServer implements AutoCloseable {
    static final Logger log = LoggerFactory.getLogger("underpass.gateway.dns");
    /** How long resolvers may cache an answer: short, since endpoints come and go. */
    static final Duration TTL = Duration.ofSeconds(30);
    /** A TCP connection without a complete query for this long is closed. */
    static final Duration TCP_IDLE_TIMEOUT = Duration.ofSeconds(10);
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

    private final Function<String, List<InetAddress>> lookup;
    private final Duration tcpIdleTimeout;
    private final AtomicBoolean lookupFailureLogged = new AtomicBoolean();
    private volatile Channel udp;
    private volatile Channel tcp;

    /**
     * @param lookup the addresses of a name (lower case, no trailing dot); an empty list for a
     *     name that is not the gateway's
     */
    PrivateDnsServer(Function<String, List<InetAddress>> lookup) {
        this(lookup, TCP_IDLE_TIMEOUT);
    }

    /** With another TCP idle timeout than {@link #TCP_IDLE_TIMEOUT}, for tests. */
    PrivateDnsServer(Function<String, List<InetAddress>> lookup, Duration tcpIdleTimeout) {
        this.lookup = requireNonNull(lookup, "lookup");
        this.tcpIdleTimeout = requireNonNull(tcpIdleTimeout, "tcpIdleTimeout");
        if (tcpIdleTimeout.isNegative() || tcpIdleTimeout.isZero()) {
            throw new IllegalArgumentException("tcpIdleTimeout: " + tcpIdleTimeout + " (expected: > 0)");
        }
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
     */
    InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws IOException, InterruptedException {
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
            ChannelFuture t = tcpBootstrap(group).bind(bound).await();
            if (t.isSuccess()) {
                udp = u.channel();
                tcp = t.channel();
                log.info("private DNS listening on {} (UDP and TCP)", bound);
                return bound;
            }
            last = t.cause();
            u.channel().close().syncUninterruptibly();
            log.debug("private DNS: TCP port {} taken after UDP bound it (attempt {} of {}): {}", bound.getPort(), attempt,
                    attempts, String.valueOf(last));
        }
        throw bindFailure("TCP", address, last);
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
                        ch.pipeline().addLast("encoder", new DatagramDnsResponseEncoder());
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

    /** Closes both sockets; open TCP connections end at their idle timeout or with the event loop group. */
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
     */
    private void answer(DnsQuery query, DnsResponse response, boolean overUdp, Object from) {
        response.setRecursionDesired(query.isRecursionDesired());
        if (!DnsOpCode.QUERY.equals(query.opCode())) {
            response.setCode(DnsResponseCode.NOTIMP);
            return;
        }
        if (query.count(DnsSection.QUESTION) != 1) {
            response.setCode(DnsResponseCode.FORMERR);
            return;
        }
        DnsRecord opt = null;
        for (int i = 0; i < query.count(DnsSection.ADDITIONAL); i++) {
            DnsRecord r = query.recordAt(DnsSection.ADDITIONAL, i);
            if (DnsRecordType.OPT.equals(r.type())) {
                if (opt != null) {
                    response.setCode(DnsResponseCode.FORMERR);
                    return;
                }
                opt = r;
            }
        }
        DnsQuestion question = query.recordAt(DnsSection.QUESTION);
        response.addRecord(DnsSection.QUESTION, question);
        if (opt != null && (opt.timeToLive() >> 16 & 0xff) != 0) {
            response.addRecord(DnsSection.ADDITIONAL, opt(OPT_BADVERS));
            return;
        }
        int limit = !overUdp ? TCP_PAYLOAD
                : opt == null ? UDP_PAYLOAD
                : Math.max(UDP_PAYLOAD, Math.min(EDNS_UDP_PAYLOAD, opt.dnsClass() & 0xffff));
        int size = HEADER_BYTES + nameBytes(question.name()) + 4 + (opt == null ? 0 : OPT_RECORD_BYTES);
        if (opt != null) {
            response.addRecord(DnsSection.ADDITIONAL, opt(0));
        }
        if (question.dnsClass() != DnsRecord.CLASS_IN) {
            response.setCode(DnsResponseCode.REFUSED);
            return;
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
            return;
        }
        if (addresses == null || addresses.isEmpty()) {
            log.debug("private DNS: {} {} from {} refused: not an endpoint name", question.type().name(), printable(name), from);
            response.setCode(DnsResponseCode.REFUSED);
            return;
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

    private final class UdpAnswerer extends SimpleChannelInboundHandler<DatagramDnsQuery> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery query) {
            if (!ctx.channel().isWritable()) {
                // The kernel does not take our datagrams as fast as queries come: drop rather than queue.
                log.debug("private DNS: answer to {} dropped: UDP outbound buffer full", query.sender());
                return;
            }
            DatagramDnsResponse response = new DatagramDnsResponse(query.recipient(), query.sender(), query.id(), query.opCode());
            try {
                answer(query, response, true, query.sender());
            } catch (RuntimeException e) {
                response.release();
                throw e;
            }
            ctx.writeAndFlush(response).addListener(f -> {
                if (!f.isSuccess()) {
                    log.debug("private DNS: answer to {} not sent: {}", query.sender(), f.cause().toString());
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
            idle = ctx.executor().schedule(() -> {
                log.debug("private DNS: TCP connection from {} closed: no complete query within {}s",
                        ctx.channel().remoteAddress(), tcpIdleTimeout.toMillis() / 1000.0);
                ctx.close();
            }, tcpIdleTimeout.toMillis(), TimeUnit.MILLISECONDS);
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
                answer(query, response, false, from);
            } catch (RuntimeException e) {
                response.release();
                throw e;
            } finally {
                query.release();
            }
            writing = true;
            ctx.writeAndFlush(response).addListener(f -> {
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
