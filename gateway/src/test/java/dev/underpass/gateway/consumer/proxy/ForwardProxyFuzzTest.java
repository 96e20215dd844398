package dev.underpass.gateway.consumer.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.underpass.gateway.FuzzChunks;
import dev.underpass.gateway.FuzzLog;
import dev.underpass.gateway.GatewayFuzzFixture;
import dev.underpass.gateway.consumer.ConsumerPort;
import dev.underpass.gateway.consumer.HandshakeDeadline;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.ByteArrayOutputStream;
import java.lang.reflect.Constructor;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the forward proxy's handshake (HTTP CONNECT, absolute-form HTTP and SOCKS5 on one port,
 * {@link ForwardProxy}, {@link HttpConnectProxy}, {@link Socks5Proxy}) with the pipeline a
 * consumer connection gets, on an {@link EmbeddedChannel}, against {@link GatewayFuzzFixture}.
 * The client's bytes come in the reads {@link FuzzChunks} makes of the input; a read waits while
 * the proxy does not read (auto-read off), as the socket would. Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/gateway/ForwardProxyFuzzTestInputs/handshake}; how to
 * fuzz: docs/fuzzing.md.
 */
class ForwardProxyFuzzTest {
    private static final RepeatedEvents REFUSALS =
            new RepeatedEvents(GatewayLog.PROXY, RepeatedEvents.DEFAULT_INTERVAL, 100, null);
    private static final Set<Integer> HTTP_STATUSES = Set.of(200, 400, 403, 407, 414, 429, 431, 502, 505);
    private static final Pattern STATUS_LINE = Pattern.compile("HTTP/1\\.1 (\\d{3}) [^\r\n]*\r\n");

    private static GatewayFuzzFixture fixture;
    private static ForwardProxy proxy;
    private static Constructor<?> detect;
    private static FuzzLog log;

    @BeforeAll
    static void start() throws Exception {
        fixture = new GatewayFuzzFixture();
        proxy = new ForwardProxy(fixture.checks, fixture.routes, fixture.egress, REFUSALS);
        // The handler that tells HTTP from SOCKS5 is private to the proxy; the port builds it so.
        detect = Class.forName(ForwardProxy.class.getName() + "$Detect").getDeclaredConstructor(ForwardProxy.class);
        detect.setAccessible(true);
        // "closed: <exception>" is what the handshake handlers log when a handler threw: on an
        // embedded channel there is no I/O to fail, so every such line is a bug.
        log = new FuzzLog(
                Level.INFO,
                e -> e.getMessage().endsWith("connection from {} closed: {}")
                        && !e.getMessage().startsWith("egress"));
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
     * Whatever a client sends, in whatever reads: no handler throws; what the proxy writes is one
     * HTTP answer (with a status it uses, and the body its length says) or SOCKS5 replies in
     * order; and by the end of the handshake deadline the connection is closed (refused,
     * tunnelled to the agent-less endpoint and reset, or timed out), never left open.
     */
    @FuzzTest
    @DictionaryFile(resourcePath = "forward-proxy.dict")
    void handshake(FuzzedDataProvider data) throws Exception {
        List<byte[]> reads = FuzzChunks.of(data);
        EmbeddedChannel channel = new EmbeddedChannel();
        channel.pipeline()
                .addLast(HandshakeDeadline.NAME, new HandshakeDeadline(ConsumerPort.HANDSHAKE_SECONDS, REFUSALS));
        channel.pipeline().addLast("detect", (ChannelHandler) detect.newInstance(proxy));
        ByteArrayOutputStream written = new ByteArrayOutputStream();
        try {
            for (byte[] read : reads) {
                if (!channel.isOpen() || !channel.config().isAutoRead()) {
                    break; // the proxy is not reading (checking a key, or done): the client's bytes wait
                }
                channel.writeInbound(Unpooled.wrappedBuffer(read));
                channel.runPendingTasks();
                drain(channel, written);
            }
            channel.advanceTimeBy(ConsumerPort.HANDSHAKE_SECONDS + 1, TimeUnit.SECONDS);
            channel.runPendingTasks();
            channel.runScheduledPendingTasks();
            drain(channel, written);
            assertThat(log.take()).as("handlers threw").isEmpty();
            assertThat(channel.isOpen()).as("open after the handshake deadline").isFalse();
            byte[] out = written.toByteArray();
            if (out.length > 0) {
                if (reads.getFirst()[0] == 0x05) {
                    assertSocksReplies(out);
                } else {
                    assertHttpAnswer(out);
                }
            }
        } finally {
            channel.finishAndReleaseAll();
            log.take();
        }
    }

    /**
     * Regression, found by fuzzing ({@code crash-absolute-form-port-out-of-range}). Was a bug,
     * fixed in {@link HttpConnectProxy}: an absolute-form request for a port above
     * 65535 ({@code GET http://host:65536/}) makes {@code new HostAndPort} throw
     * IllegalArgumentException out of {@code channelRead}; the client gets no answer (the
     * connection just closes) and the log says "proxy connection from ... closed:
     * java.lang.IllegalArgumentException: port: 65536 (expected: 0-65535)". Expected: a 400 like
     * for {@code CONNECT host:65536}.
     */
    @Test
    void anAbsoluteFormRequestForAPortAbove65535IsAnsweredWith400() {
        EmbeddedChannel channel = new EmbeddedChannel();
        try {
            channel.pipeline().addLast("detect", (ChannelHandler) detect.newInstance(proxy));
            channel.writeInbound(Unpooled.copiedBuffer(
                    "GET http://" + GatewayFuzzFixture.ENDPOINT_NAME + ":65536/ HTTP/1.1\r\n"
                            + "Proxy-Authorization: Basic " + GatewayFuzzFixture.BASIC + "\r\n\r\n",
                    StandardCharsets.US_ASCII));
            channel.runPendingTasks();
            ByteArrayOutputStream written = new ByteArrayOutputStream();
            drain(channel, written);
            assertThat(log.take()).as("handlers threw").isEmpty();
            assertThat(written.toString(StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 400 ");
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        } finally {
            channel.finishAndReleaseAll();
            log.take();
        }
    }

    private static void drain(EmbeddedChannel channel, ByteArrayOutputStream into) {
        for (Object m; (m = channel.readOutbound()) != null; ) {
            assertThat(m).as("written to the socket").isInstanceOf(ByteBuf.class);
            ByteBuf b = (ByteBuf) m;
            try {
                byte[] bytes = new byte[b.readableBytes()];
                b.readBytes(bytes);
                into.writeBytes(bytes);
            } finally {
                b.release();
            }
        }
    }

    /** One answer: a status the proxy uses, with the body its content-length says, or 200 alone. */
    private static void assertHttpAnswer(byte[] out) {
        String text = new String(out, StandardCharsets.ISO_8859_1);
        Matcher status = STATUS_LINE.matcher(text);
        assertThat(status.lookingAt()).as("an HTTP status line: %s", text).isTrue();
        int code = Integer.parseInt(status.group(1));
        assertThat(code).as(text).isIn(HTTP_STATUSES);
        if (code == 200) {
            assertThat(text).isEqualTo("HTTP/1.1 200 Connection established\r\n\r\n");
            return;
        }
        int end = text.indexOf("\r\n\r\n");
        assertThat(end).as("end of the head: %s", text).isPositive();
        Matcher length = Pattern.compile("(?i)\r\ncontent-length: (\\d+)\r\n").matcher(text.substring(0, end + 2));
        assertThat(length.find()).as("content-length: %s", text).isTrue();
        assertThat(out.length - end - 4).as("body length: %s", text).isEqualTo(Integer.parseInt(length.group(1)));
    }

    /**
     * SOCKS5 replies in order: the method choice ({@code 05 mm}), then the password verdict
     * ({@code 01 ss}), then the command reply ({@code 05 rr 00 01} and six zero bytes); each
     * refusal is the last.
     */
    private static void assertSocksReplies(byte[] out) {
        int at = 0;
        assertThat(out.length).as("method choice").isGreaterThanOrEqualTo(2);
        assertThat(out[0]).isEqualTo((byte) 5);
        assertThat(out[1]).as("password or no acceptable method").isIn((byte) 2, (byte) 0xFF);
        at += 2;
        if (out[1] == (byte) 0xFF || at == out.length) {
            assertThat(out.length).isEqualTo(at);
            return;
        }
        assertThat(out.length - at).as("password verdict").isGreaterThanOrEqualTo(2);
        assertThat(out[at]).isEqualTo((byte) 1);
        byte verdict = out[at + 1];
        assertThat(verdict).as("success or failure").isIn((byte) 0, (byte) 0xFF);
        at += 2;
        if (verdict != 0 || at == out.length) {
            assertThat(out.length).isEqualTo(at);
            return;
        }
        assertThat(out.length - at).as("command reply").isEqualTo(10);
        assertThat(out[at]).isEqualTo((byte) 5);
        assertThat(out[at + 2]).isZero();
        assertThat(out[at + 3]).isEqualTo((byte) 1);
    }
}
