package dev.underpass.gateway.dns;

import static dev.underpass.gateway.dns.DnsLog.log;
import static dev.underpass.gateway.dns.DnsLog.printable;

import dev.underpass.protocol.HostAndPort;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * The private DNS server's own answers: what a query gets from the lookup, or whether it is to
 * be forwarded ({@link DnsForwarder}).
 *
 * <p>For a name the lookup knows: its IPv4 addresses for {@code A}, its IPv6 addresses for
 * {@code AAAA}, both for {@code ANY}, and NOERROR without answers (NODATA) for any other type
 * or when the name has no address of the asked family; every such answer has the AA flag and a
 * TTL of {@link #TTL}. No SOA is served, so NODATA answers are not cached negatively (RFC 2308
 * §5): that is fine for names that come and go with endpoints. A query with other than one
 * question is FORMERR, an opcode other than QUERY is NOTIMP, any class but IN is REFUSED, and a
 * lookup that throws gives SERVFAIL: none of these is ever forwarded.
 *
 * <p>A name the lookup does not know:
 * <ul>
 * <li>under the endpoint domain ({@link PrivateDnsServer.Options#endpointDomain}): NXDOMAIN with
 *     the AA flag, never forwarded, since the name is ours and telling the upstream would leak
 *     it; the domain itself gets NODATA. NXDOMAIN rather than REFUSED so that a stub resolver
 *     with a public server second in its list stops here instead of asking that one. An empty
 *     non-terminal (the {@code provider.domain} above {@code id.service.provider.domain})
 *     strictly deserves NODATA (RFC 8020), but the lookup cannot tell which names have names
 *     below them; as no SOA comes with the NXDOMAIN, resolvers do not cache it (RFC 2308 §5) and
 *     so hide nothing below it.
 * <li>elsewhere, without an upstream: REFUSED, since this server is then no recursive resolver,
 *     so a consumer's resolver moves on to its next server (or a forwarding zone sends only the
 *     endpoint domain here).
 * <li>elsewhere, with an upstream: forwarded ({@link DnsForwarder}).
 * </ul>
 */
final class DnsAnswers {
    /** How long resolvers may cache an answer: short, since endpoints come and go. */
    static final Duration TTL = Duration.ofSeconds(30);
    /** The DNS header (RFC 1035 §4.1.1). */
    static final int HEADER_BYTES = 12;

    private final Function<String, List<InetAddress>> lookup;
    private final PrivateDnsServer.Options options;
    private final AtomicBoolean lookupFailureLogged = new AtomicBoolean();

    DnsAnswers(Function<String, List<InetAddress>> lookup, PrivateDnsServer.Options options) {
        this.lookup = lookup;
        this.options = options;
    }

    /**
     * Fills {@code response} (already carrying the query's id and opcode) with the answer to
     * {@code query}, within the UDP payload size or {@link Edns#TCP_PAYLOAD}.
     *
     * @return true if the query is to be forwarded instead: {@code response} then holds the
     *     question, the RD flag and our OPT record only, to be sent with SERVFAIL should forwarding fail
     */
    boolean answer(DnsQuery query, DnsResponse response, boolean overUdp, Object from) {
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
        if (Edns.optCount(query) > 1) {
            response.setCode(DnsResponseCode.FORMERR);
            return false;
        }
        DnsRecord opt = Edns.optOf(query);
        DnsQuestion question = query.recordAt(DnsSection.QUESTION);
        response.addRecord(DnsSection.QUESTION, question);
        if (opt != null && Edns.unsupportedVersion(opt)) {
            response.addRecord(DnsSection.ADDITIONAL, Edns.badVersion());
            return false;
        }
        int limit = overUdp ? Edns.udpLimit(opt) : Edns.TCP_PAYLOAD;
        int size = HEADER_BYTES + nameBytes(question.name()) + 4 + (opt == null ? 0 : Edns.OPT_RECORD_BYTES);
        if (opt != null) {
            response.addRecord(DnsSection.ADDITIONAL, Edns.ours());
        }
        if (question.dnsClass() != DnsRecord.CLASS_IN) {
            response.setCode(DnsResponseCode.REFUSED);
            return false;
        }
        String name = HostAndPort.normaliseName(question.name());
        List<InetAddress> addresses;
        try {
            addresses = lookup.apply(name);
        } catch (RuntimeException e) {
            // A bug in the lookup, not the client's doing: said once at WARN, then at DEBUG, since
            // every query would repeat it.
            if (lookupFailureLogged.compareAndSet(false, true)) {
                log.warn(
                        "private DNS: lookup of {} failed (answering SERVFAIL; further failures at DEBUG)",
                        printable(name),
                        e);
            } else {
                log.debug("private DNS: lookup of {} failed", printable(name), e);
            }
            response.setCode(DnsResponseCode.SERVFAIL);
            return false;
        }
        if (addresses == null || addresses.isEmpty()) {
            if (options.ours(name)) {
                // Ours, so never forwarded (that would leak it); see the class comment for NXDOMAIN.
                log.debug(
                        "private DNS: {} {} from {}: no such endpoint name",
                        question.type().name(),
                        printable(name),
                        from);
                response.setAuthoritativeAnswer(true);
                if (!name.equals(options.endpointDomain())) {
                    response.setCode(DnsResponseCode.NXDOMAIN);
                }
                return false;
            }
            if (options.upstream() != null) {
                return true;
            }
            log.debug(
                    "private DNS: {} {} from {} refused: not an endpoint name",
                    question.type().name(),
                    printable(name),
                    from);
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
            response.addRecord(
                    DnsSection.ANSWER,
                    new DefaultDnsRawRecord(
                            question.name(), recordType, TTL.toSeconds(), Unpooled.wrappedBuffer(data)));
        }
        return false;
    }

    /** Wire length of a name as Netty writes it (no compression): a length byte per label, then the root. */
    private static int nameBytes(String name) {
        if (name.equals(".") || name.isEmpty()) {
            return 1;
        }
        return name.length() + (name.endsWith(".") ? 1 : 2);
    }
}
