package dev.underpass.gateway.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsSection;

/**
 * EDNS and how large an answer may be.
 *
 * <p>Minimal EDNS(0) (RFC 6891): a query with one OPT record gets one back, advertising
 * {@value #EDNS_UDP_PAYLOAD} bytes (the DNS flag day 2020 size), and its UDP answer may use up
 * to that size; version above 0 gets BADVERS; two OPT records are FORMERR. Without EDNS a UDP
 * answer stays within {@value #UDP_PAYLOAD} bytes. An answer that does not fit carries the
 * records that do and sets TC, so the client asks again over TCP, where up to 64 KiB fit.
 * Forwarded answers carry the upstream's OPT record, not ours.
 */
final class Edns {
    /** The largest UDP answer without EDNS (RFC 1035 §4.2.1). */
    static final int UDP_PAYLOAD = 512;
    /** The largest UDP answer with EDNS, and the size this server advertises. */
    static final int EDNS_UDP_PAYLOAD = 1232;
    /** The largest TCP answer (the two-byte length prefix). */
    static final int TCP_PAYLOAD = 65535;
    /** Wire length of our OPT record: root name, type, class, TTL and an empty RDATA length. */
    static final int OPT_RECORD_BYTES = 11;

    /** RFC 6891 §9: BADVERS is extended RCODE 16, i.e. 1 in the OPT record's upper eight bits. */
    private static final long OPT_BADVERS = 1L << 24;

    private Edns() {}

    /** How many OPT records {@code query} has: more than one is FORMERR. */
    static int optCount(DnsQuery query) {
        int count = 0;
        for (int i = 0; i < query.count(DnsSection.ADDITIONAL); i++) {
            if (DnsRecordType.OPT.equals(
                    query.recordAt(DnsSection.ADDITIONAL, i).type())) {
                count++;
            }
        }
        return count;
    }

    /** The (first) OPT record of {@code query}, or null without EDNS. */
    static DnsRecord optOf(DnsQuery query) {
        for (int i = 0; i < query.count(DnsSection.ADDITIONAL); i++) {
            DnsRecord r = query.recordAt(DnsSection.ADDITIONAL, i);
            if (DnsRecordType.OPT.equals(r.type())) {
                return r;
            }
        }
        return null;
    }

    /** Whether {@code opt} asks for an EDNS version above 0, which gets BADVERS. */
    static boolean unsupportedVersion(DnsRecord opt) {
        return (opt.timeToLive() >> 16 & 0xff) != 0;
    }

    /** Our OPT record for an answer. */
    static DnsRecord ours() {
        return opt(0);
    }

    /** Our OPT record saying BADVERS. */
    static DnsRecord badVersion() {
        return opt(OPT_BADVERS);
    }

    /** The largest UDP answer a client takes: {@value #UDP_PAYLOAD} without EDNS, else its size, at most ours. */
    static int udpLimit(DnsRecord opt) {
        return opt == null ? UDP_PAYLOAD : Math.max(UDP_PAYLOAD, Math.min(EDNS_UDP_PAYLOAD, opt.dnsClass() & 0xffff));
    }

    /** Writes the client's {@code opt} as it is, but with its UDP size capped as for our own answers. */
    static void writeCapped(DnsRawRecord opt, ByteBuf buf) {
        ByteBuf ednsOptions = opt.content();
        buf.writeByte(0)
                .writeShort(DnsRecordType.OPT.intValue())
                .writeShort(udpLimit(opt))
                .writeInt((int) opt.timeToLive())
                .writeShort(ednsOptions.readableBytes())
                .writeBytes(ednsOptions, ednsOptions.readerIndex(), ednsOptions.readableBytes());
    }

    /** An OPT pseudo-record (RFC 6891 §6.1.2): our UDP size in the class, extended RCODE and flags in the TTL. */
    private static DnsRecord opt(long extendedRcodeVersionFlags) {
        return new DefaultDnsRawRecord(
                ".", DnsRecordType.OPT, EDNS_UDP_PAYLOAD, extendedRcodeVersionFlags, Unpooled.EMPTY_BUFFER);
    }
}
