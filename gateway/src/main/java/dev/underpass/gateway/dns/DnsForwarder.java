package dev.underpass.gateway.dns;

import static dev.underpass.gateway.dns.DnsLog.log;
import static dev.underpass.gateway.dns.DnsLog.printable;

import dev.underpass.protocol.HostAndPort;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordEncoder;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Sends the queries for names outside the endpoint domain to the upstream recursive resolver
 * ({@link PrivateDnsServer.Options#upstream}), each as one {@link ForwardedQuery}.
 *
 * <p>A forwarded query goes to the upstream as the client sent it (question, flags and records,
 * the OPT record's UDP size capped at {@value Edns#EDNS_UDP_PAYLOAD}), with a random id, from a
 * new socket with a port of the kernel's choosing (so that an off-path attacker has id and port
 * to guess, RFC 5452). Its answer goes back to the client as the upstream sent it, with the
 * client's id; an answer that does not carry our id and question is ignored. A UDP query goes
 * over UDP; an answer with TC is asked again over TCP, and that answer replaces it if it fits the
 * client's UDP size, so the client is told to come back over TCP only when it has to. A TCP query
 * goes over TCP. A query without an answer within {@link PrivateDnsServer.Options#forwardTimeout}
 * (both tries together), or one the upstream refuses the connection for, gets SERVFAIL.
 *
 * <p>At most {@link PrivateDnsServer.Options#maxForwards} queries are with the upstream at a
 * time, and beyond that a query gets SERVFAIL at once. Upstream failures and a full forwarding
 * limit are said at WARN at most once a {@link #WARN_INTERVAL}, otherwise at DEBUG.
 */
final class DnsForwarder {
    /** Upstream failures and a full forwarding limit are said at WARN at most this often. */
    static final Duration WARN_INTERVAL = Duration.ofMinutes(1);

    private static final SecureRandom IDS = new SecureRandom();

    private final PrivateDnsServer.Options options;
    private final AtomicInteger forwarding = new AtomicInteger();
    private final AtomicLong nextWarnNanos = new AtomicLong(System.nanoTime());

    DnsForwarder(PrivateDnsServer.Options options) {
        this.options = options;
    }

    PrivateDnsServer.Options options() {
        return options;
    }

    /**
     * Forwards {@code query} (which the caller may release once this returns) to the upstream.
     * {@code reply} is called once, on {@code loop}, with either the upstream's answer as a
     * {@link ByteBuf} carrying the client's id, or {@code pending} with SERVFAIL or TC set; it
     * owns what it gets.
     *
     * @param udpLimit the client's UDP size, or 0 for a client over TCP
     */
    void forward(
            EventLoop loop, DnsQuery query, DnsResponse pending, int udpLimit, Object from, Consumer<Object> reply) {
        String what = query.recordAt(DnsSection.QUESTION).type().name() + " "
                + printable(HostAndPort.normaliseName(
                        query.recordAt(DnsSection.QUESTION).name()));
        if (forwarding.incrementAndGet() > options.maxForwards()) {
            forwarding.decrementAndGet();
            warnRarely(
                    "private DNS: {} from {} answered SERVFAIL: {} queries already with the upstream {}",
                    what,
                    from,
                    options.maxForwards(),
                    options.upstream());
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
            log.debug(
                    "private DNS: {} from {} answered SERVFAIL: cannot encode it for the upstream: {}",
                    what,
                    from,
                    e.toString());
            reply.accept(pending.setCode(DnsResponseCode.SERVFAIL));
            return;
        }
        new ForwardedQuery(
                        this,
                        loop,
                        message,
                        id,
                        questionBytes,
                        query.id(),
                        pending,
                        udpLimit,
                        what + " from " + from,
                        reply)
                .start();
    }

    /** A forwarded query is over: it no longer counts against {@link PrivateDnsServer.Options#maxForwards}. */
    void ended() {
        forwarding.decrementAndGet();
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
        buf.writeShort((query.opCode().byteValue() & 0xf) << 11
                | (query.isRecursionDesired() ? 1 << 8 : 0)
                | (query.z() & 0x7) << 4);
        DnsSection[] sections = {DnsSection.QUESTION, DnsSection.ANSWER, DnsSection.AUTHORITY, DnsSection.ADDITIONAL};
        for (DnsSection section : sections) {
            buf.writeShort(query.count(section));
        }
        DnsRecordEncoder.DEFAULT.encodeQuestion(query.recordAt(DnsSection.QUESTION), buf);
        int questionBytes = buf.writerIndex() - DnsAnswers.HEADER_BYTES;
        for (int s = 1; s < sections.length; s++) {
            for (int i = 0; i < query.count(sections[s]); i++) {
                DnsRecord r = query.recordAt(sections[s], i);
                if (DnsRecordType.OPT.equals(r.type()) && r instanceof DnsRawRecord raw) {
                    // The upstream's UDP answer is relayed as it is, so it must fit what we let the client have.
                    Edns.writeCapped(raw, buf);
                } else {
                    DnsRecordEncoder.DEFAULT.encodeRecord(r, buf);
                }
            }
        }
        return questionBytes;
    }

    /** WARN at most once a {@link #WARN_INTERVAL}, DEBUG otherwise: what causes it may repeat with every query. */
    void warnRarely(String format, Object... args) {
        long now = System.nanoTime();
        long next = nextWarnNanos.get();
        if (now - next >= 0 && nextWarnNanos.compareAndSet(next, now + WARN_INTERVAL.toNanos())) {
            log.warn(format + " (said at most once a minute at WARN, otherwise at DEBUG)", args);
        } else {
            log.debug(format, args);
        }
    }
}
