package dev.underpass.gateway.dns;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.underpass.gateway.FuzzLog;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponseDecoder;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsSection;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Fuzzes the private DNS server's UDP side ({@link PrivateDnsServer}: Netty's query decoder and
 * the server's answers) with one datagram from a client, on an {@link EmbeddedChannel} with the
 * socket's pipeline ({@link DnsFuzzing}). Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/gateway/PrivateDnsUdpFuzzTestInputs/datagram}; how to
 * fuzz: docs/fuzzing.md.
 */
class PrivateDnsUdpFuzzTest {
    private static final InetSocketAddress SERVER = new InetSocketAddress("127.0.0.1", 53);
    private static final InetSocketAddress CLIENT = new InetSocketAddress("127.0.0.2", 40000);

    private static DnsFuzzing dns;
    private static ChannelHandler pipeline;
    private static FuzzLog log;

    @BeforeAll
    static void start() throws Exception {
        dns = new DnsFuzzing();
        pipeline = dns.udp();
        // "UDP error" is what the socket's handler logs when answering threw, "not sent" when
        // writing the answer failed (on an embedded channel: encoding it). The one known case:
        // see unanswerable().
        log = new FuzzLog(
                Level.DEBUG,
                e -> e.getMessage().startsWith("private DNS: UDP error")
                        || e.getMessage().startsWith("private DNS: answer to {} not sent")
                                && !e.getFormattedMessage().contains("DNS label contains null byte"));
    }

    @AfterAll
    static void stop() {
        if (log != null) {
            log.close();
        }
        if (dns != null) {
            dns.close();
        }
    }

    /**
     * A datagram that Netty decodes as a query gets exactly one answer, to its sender, with its
     * id and opcode, that decodes as a DNS response and fits the client's UDP size (512 bytes, or
     * what its OPT record says up to 1232): never an amplifier. Anything else gets no answer.
     * Nothing throws.
     */
    @FuzzTest
    void datagram(byte[] datagram) {
        DatagramDnsQuery query = decodeQuery(datagram);
        EmbeddedChannel channel = new EmbeddedChannel(pipeline);
        try {
            channel.writeInbound(new DatagramPacket(Unpooled.wrappedBuffer(datagram), SERVER, CLIENT));
            channel.runPendingTasks();
            assertThat(log.take()).as("handlers threw").isEmpty();
            DatagramPacket answer = channel.readOutbound();
            try {
                assertThat(channel.<Object>readOutbound()).as("a second answer").isNull();
                if (query == null || unanswerable(query)) {
                    assertThat(answer).as("an answer to what is no query").isNull();
                    return;
                }
                assertThat(answer).as("the answer").isNotNull();
                assertThat(answer.recipient()).isEqualTo(CLIENT);
                assertThat(answer.content().readableBytes()).as("answer size").isLessThanOrEqualTo(udpLimit(query));
                DnsResponse response = decodeResponse(answer.content());
                try {
                    assertThat(response.id()).isEqualTo(query.id());
                    assertThat(response.opCode()).isEqualTo(query.opCode());
                } finally {
                    response.release();
                }
            } finally {
                if (answer != null) {
                    answer.release();
                }
            }
        } finally {
            if (query != null) {
                query.release();
            }
            channel.finishAndReleaseAll();
            log.take();
        }
    }

    /** The query Netty's decoder makes of {@code datagram}, or null when it refuses it. */
    private static DatagramDnsQuery decodeQuery(byte[] datagram) {
        EmbeddedChannel decoder = new EmbeddedChannel(new DatagramDnsQueryDecoder());
        try {
            decoder.writeInbound(new DatagramPacket(Unpooled.wrappedBuffer(datagram), SERVER, CLIENT));
            return decoder.readInbound();
        } catch (RuntimeException refused) {
            return null;
        } finally {
            decoder.finishAndReleaseAll();
        }
    }

    /**
     * Found by fuzzing ({@code crash-nul-byte-in-label}): Netty's decoder takes a name with a NUL
     * byte in a label (binary labels are legal DNS), but its encoder refuses to write it back in
     * the answer's question ("DNS label contains null byte"), so the server logs "answer ... not
     * sent" at DEBUG and the client gets no answer: the same as for a malformed query (dropped;
     * over TCP the connection closes). Harmless, and accepted here as that. The answer repeats
     * the question only for a QUERY with one question and at most one OPT record.
     */
    static boolean unanswerable(DnsQuery query) {
        if (!DnsOpCode.QUERY.equals(query.opCode()) || query.count(DnsSection.QUESTION) != 1) {
            return false;
        }
        int opt = 0;
        for (int i = 0; i < query.count(DnsSection.ADDITIONAL); i++) {
            opt += DnsRecordType.OPT.equals(
                            query.recordAt(DnsSection.ADDITIONAL, i).type())
                    ? 1
                    : 0;
        }
        return opt <= 1 && query.recordAt(DnsSection.QUESTION).name().indexOf('\0') >= 0;
    }

    /** RFC 6891: 512 without an OPT record, else its UDP size within 512-1232 (the server's own limits). */
    private static int udpLimit(DatagramDnsQuery query) {
        for (int i = 0; i < query.count(DnsSection.ADDITIONAL); i++) {
            DnsRecord r = query.recordAt(DnsSection.ADDITIONAL, i);
            if (DnsRecordType.OPT.equals(r.type())) {
                return Math.max(Edns.UDP_PAYLOAD, Math.min(Edns.EDNS_UDP_PAYLOAD, r.dnsClass() & 0xffff));
            }
        }
        return Edns.UDP_PAYLOAD;
    }

    private static DnsResponse decodeResponse(ByteBuf answer) {
        EmbeddedChannel decoder = new EmbeddedChannel(new DatagramDnsResponseDecoder());
        try {
            decoder.writeInbound(new DatagramPacket(answer.retainedDuplicate(), CLIENT, SERVER));
            DnsResponse response = decoder.readInbound();
            assertThat(response).as("the answer decodes").isNotNull();
            return response;
        } finally {
            decoder.finishAndReleaseAll();
        }
    }
}
