package dev.underpass.gateway.dns;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.underpass.gateway.FuzzChunks;
import dev.underpass.gateway.FuzzLog;
import dev.underpass.gateway.consumer.SniRouterFuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsRecordDecoder;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.TcpDnsQueryDecoder;
import io.netty.handler.codec.dns.TcpDnsResponseDecoder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Fuzzes the private DNS server's TCP side ({@link PrivateDnsServer}: RFC 7766 framing, Netty's
 * query decoder, one answer at a time) with what a client sends on one connection, in the reads
 * {@link FuzzChunks} makes of the input, on an {@link EmbeddedChannel} with a connection's
 * pipeline ({@link DnsFuzzing}). Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/gateway/PrivateDnsTcpFuzzTestInputs/connection}; how
 * to fuzz: docs/fuzzing.md.
 */
class PrivateDnsTcpFuzzTest {
    private static DnsFuzzing dns;
    private static ChannelHandler pipeline;
    private static FuzzLog log;

    @BeforeAll
    static void start() throws Exception {
        dns = new DnsFuzzing();
        pipeline = dns.tcp();
        // A malformed query ends its connection with a DecoderException from Netty's decoder
        // (documented); any other exception there comes from the server's own handler: a bug.
        // An answer that cannot be written (the one known case: PrivateDnsUdpFuzzTest.unanswerable)
        // ends the connection too.
        log = new FuzzLog(
                Level.DEBUG,
                e -> e.getMessage().equals("private DNS: TCP connection from {} closed: {}")
                                && !SniRouterFuzzTest.isDecoderException(String.valueOf(e.getArgumentArray()[1]))
                        || e.getMessage().startsWith("private DNS: TCP answer to {} not sent")
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
     * Every query Netty's decoder takes from the stream gets one answer, in order, with its id,
     * framed with its length, that decodes as a DNS response; nothing but a malformed query ends
     * the connection early, and the idle timeout ends it at last. Nothing throws.
     */
    @FuzzTest
    void connection(FuzzedDataProvider data) {
        List<byte[]> reads = FuzzChunks.of(data);
        List<Integer> queries = queryIds(reads);
        EmbeddedChannel channel = new EmbeddedChannel(pipeline);
        List<Integer> answers = new ArrayList<>();
        EmbeddedChannel responses = new EmbeddedChannel(new TcpDnsResponseDecoder());
        try {
            for (byte[] read : reads) {
                if (!channel.isOpen()) {
                    break;
                }
                assertThat(channel.config().isAutoRead())
                        .as("reading while no answer is pending")
                        .isTrue();
                channel.writeInbound(Unpooled.wrappedBuffer(read));
                channel.runPendingTasks();
                for (Object m; (m = channel.readOutbound()) != null; ) {
                    assertThat(m).isInstanceOf(ByteBuf.class);
                    ByteBuf framed = (ByteBuf) m;
                    assertThat(framed.readableBytes()).isBetween(2 + 12, 2 + Edns.TCP_PAYLOAD);
                    assertThat(framed.getUnsignedShort(framed.readerIndex()))
                            .as("length prefix")
                            .isEqualTo(framed.readableBytes() - 2);
                    responses.writeInbound(framed);
                    for (DnsResponse r; (r = responses.readInbound()) != null; ) {
                        answers.add(r.id());
                        r.release();
                    }
                }
            }
            channel.advanceTimeBy(PrivateDnsServer.TCP_IDLE_TIMEOUT.toMillis() + 1000, TimeUnit.MILLISECONDS);
            channel.runPendingTasks();
            channel.runScheduledPendingTasks();
            assertThat(log.take()).as("handlers threw").isEmpty();
            assertThat(answers).as("ids of the answers, in order").isEqualTo(queries);
            assertThat(channel.isOpen()).as("open after the idle timeout").isFalse();
        } finally {
            channel.finishAndReleaseAll();
            responses.finishAndReleaseAll();
            log.take();
        }
    }

    /**
     * The ids of the queries Netty's decoder takes from {@code reads}, up to the first it refuses
     * or the first that cannot be answered (either ends the connection).
     */
    private static List<Integer> queryIds(List<byte[]> reads) {
        EmbeddedChannel decoder = new EmbeddedChannel(
                new TcpDnsQueryDecoder(DnsRecordDecoder.DEFAULT, PrivateDnsServer.MAX_TCP_QUERY_BYTES));
        List<Integer> ids = new ArrayList<>();
        try {
            for (byte[] read : reads) {
                boolean refused = false;
                try {
                    decoder.writeInbound(Unpooled.wrappedBuffer(read));
                } catch (RuntimeException e) {
                    refused = true;
                }
                if (!drain(decoder, ids) || refused) {
                    return ids;
                }
            }
            return ids;
        } finally {
            try {
                decoder.finishAndReleaseAll();
            } catch (RuntimeException refused) {
                // the rest of a query the client never finished: the server drops it with the connection
            }
        }
    }

    /** Adds the ids of the queries decoded; false if one cannot be answered (the rest are not). */
    private static boolean drain(EmbeddedChannel decoder, List<Integer> ids) {
        boolean answerable = true;
        for (DnsQuery q; (q = decoder.readInbound()) != null; ) {
            answerable &= !PrivateDnsUdpFuzzTest.unanswerable(q);
            if (answerable) {
                ids.add(q.id());
            }
            q.release();
        }
        return answerable;
    }
}
