package dev.underpass.gateway.consumer;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.underpass.gateway.FuzzChunks;
import dev.underpass.gateway.FuzzLog;
import dev.underpass.gateway.GatewayFuzzFixture;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Fuzzes the TLS listener's ClientHello parsing ({@link SniRouter}, on Netty's
 * {@code AbstractSniHandler}) with the pipeline a consumer connection gets, on an
 * {@link EmbeddedChannel}, against {@link GatewayFuzzFixture}'s routes ({@value
 * GatewayFuzzFixture#ENDPOINT_NAME} leads to an agent-less endpoint). Input layout:
 * {@link FuzzChunks}. Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/gateway/SniRouterFuzzTestInputs/clientHello}; how to
 * fuzz: docs/fuzzing.md.
 */
public class SniRouterFuzzTest {
    private static final RepeatedEvents REFUSALS =
            new RepeatedEvents(GatewayLog.PROXY, RepeatedEvents.DEFAULT_INTERVAL, 100, null);
    private static GatewayFuzzFixture fixture;
    private static FuzzLog log;

    @BeforeAll
    static void start() throws Exception {
        fixture = new GatewayFuzzFixture();
        // The router refuses what is not TLS with Netty's decoder exceptions (NotSslRecordException,
        // TooLongFrameException...), logged as "closed: <exception>"; any other exception is a bug.
        log = new FuzzLog(
                Level.INFO,
                e -> e.getMessage().equals("TLS connection from {} closed: {}")
                        && !isDecoderException(String.valueOf(e.getArgumentArray()[1])));
    }

    @AfterAll
    static void stop() {
        if (log != null) {
            log.close();
        }
        if (fixture != null) {
            fixture.close();
        }
    }

    /**
     * Whatever a client sends, in whatever reads: the router never writes to the client, only
     * Netty's decoder exceptions refuse it, and by the end of the handshake deadline the
     * connection is closed (refused, tunnelled to the agent-less endpoint and reset, or timed out).
     */
    @FuzzTest
    void clientHello(FuzzedDataProvider data) {
        List<byte[]> reads = FuzzChunks.of(data);
        EmbeddedChannel channel = new EmbeddedChannel();
        channel.pipeline()
                .addLast(HandshakeDeadline.NAME, new HandshakeDeadline(ConsumerPort.HANDSHAKE_SECONDS, REFUSALS));
        channel.pipeline().addLast("sni", new SniRouter(fixture.routes, REFUSALS));
        try {
            for (byte[] read : reads) {
                if (!channel.isOpen() || !channel.config().isAutoRead()) {
                    break;
                }
                channel.writeInbound(Unpooled.wrappedBuffer(read));
                channel.runPendingTasks();
            }
            channel.advanceTimeBy(ConsumerPort.HANDSHAKE_SECONDS + 1, TimeUnit.SECONDS);
            channel.runPendingTasks();
            channel.runScheduledPendingTasks();
            assertThat(log.take()).as("handlers threw").isEmpty();
            assertThat(channel.<Object>readOutbound())
                    .as("written to the client")
                    .isNull();
            assertThat(channel.isOpen()).as("open after the handshake deadline").isFalse();
        } finally {
            channel.finishAndReleaseAll();
            log.take();
        }
    }

    /** Whether {@code text} ({@code Throwable.toString()}) names a {@link DecoderException}. */
    public static boolean isDecoderException(String text) {
        int colon = text.indexOf(':');
        try {
            return DecoderException.class.isAssignableFrom(Class.forName(colon < 0 ? text : text.substring(0, colon)));
        } catch (ClassNotFoundException e) {
            return false;
        }
    }
}
