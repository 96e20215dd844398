package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http2.Http2DataFrame;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ControlCodecTest {
    private EmbeddedChannel channel;

    @AfterEach
    void closeChannel() {
        if (channel != null) {
            channel.finishAndReleaseAll();
        }
    }

    static Stream<ControlMessage> messages() {
        return Stream.of(
                new ControlMessage.Advertise("0.1.0", List.of("db.internal:5432", "[fd00::1]:22")),
                new ControlMessage.Advertise(null, List.of()),
                new ControlMessage.Open(Long.MAX_VALUE, "git.internal:443"),
                new ControlMessage.Open(1, "[fd00::1]:22"),
                new ControlMessage.DialFailed(7, DialError.NOT_ALLOWED, "target x:1 is not in this agent's allowlist"),
                new ControlMessage.DialFailed(8, DialError.REFUSED, null),
                new ControlMessage.DialFailed(9, DialError.ERROR, "quotes \" and\nnewlines and ünïcödé"),
                new ControlMessage.HealthChecks(List.of(
                        new ControlMessage.Check(
                                "git:443/git.corp:443",
                                "git.corp:443",
                                "https",
                                "/healthz",
                                "200-399",
                                10_000,
                                5_000,
                                3,
                                2),
                        new ControlMessage.Check(
                                "db:5432/db:5432", "db:5432", "tcp", null, null, 30_000, 10_000, 5, 2))),
                new ControlMessage.HealthChecks(List.of()),
                new ControlMessage.Health("git:443/git.corp:443", false, "HTTP 503 (expected: 200-399)"),
                new ControlMessage.Drain("the agent is stopping"),
                new ControlMessage.Drain(null),
                new ControlMessage.Draining());
    }

    @ParameterizedTest
    @MethodSource("messages")
    void everyMessageSurvivesARoundTripAsOneLine(ControlMessage message) {
        Http2DataFrame frame = ControlCodec.frame(ByteBufAllocator.DEFAULT, message);
        try {
            assertThat(frame.isEndStream()).isFalse();
            ByteBuf content = frame.content();
            byte[] bytes = new byte[content.readableBytes()];
            content.getBytes(content.readerIndex(), bytes);
            assertThat(bytes[bytes.length - 1]).isEqualTo((byte) '\n');
            // One line: the only newline is the delimiter, even when a field contains one.
            assertThat(new String(bytes, 0, bytes.length - 1, StandardCharsets.UTF_8))
                    .doesNotContain("\n");
            ControlMessage decoded = ControlCodec.decode(Unpooled.wrappedBuffer(bytes, 0, bytes.length - 1));
            assertThat(decoded).isEqualTo(message);
        } finally {
            frame.release();
        }
    }

    @Test
    void writesTheMessageTypeAsTheTypeProperty() {
        Http2DataFrame frame = ControlCodec.frame(ByteBufAllocator.DEFAULT, new ControlMessage.Open(3, "h:1"));
        try {
            String json = frame.content().toString(StandardCharsets.UTF_8);
            assertThat(json)
                    .contains("\"type\":\"open\"")
                    .contains("\"connection\":3")
                    .contains("\"target\":\"h:1\"");
        } finally {
            frame.release();
        }
    }

    @Test
    void namesEveryMessageByItsWireType() {
        assertThat(ControlCodec.typeOf(new ControlMessage.Draining())).isEqualTo("draining");
        assertThat(ControlCodec.typeOf(new ControlMessage.Health("c", true, "ok")))
                .isEqualTo("health");
        assertThat(decode("{\"type\":\"draining\"}")).isEqualTo(new ControlMessage.Draining());
    }

    @Test
    void rejectsAHealthReportWithoutItsVerdict() {
        assertThatThrownBy(() -> decode("{\"type\":\"health\",\"check\":\"c\",\"healthy\":null}"))
                .isInstanceOf(DecoderException.class);
        assertThatThrownBy(() -> decode("{\"type\":\"health\",\"check\":\"c\"}"))
                .isInstanceOf(DecoderException.class);
        // A check without its interval must not become one probing without pause.
        assertThatThrownBy(
                        () -> decode(
                                "{\"type\":\"healthChecks\",\"checks\":[{\"id\":\"c\",\"target\":\"a:1\","
                                        + "\"protocol\":\"tcp\",\"timeoutMillis\":1,\"healthyThreshold\":1,\"unhealthyThreshold\":1}]}"))
                .isInstanceOf(DecoderException.class);
    }

    @Test
    void ignoresUnknownFields() {
        ControlMessage m = decode("{\"type\":\"open\",\"connection\":42,\"target\":\"db:5432\","
                + "\"priority\":\"high\",\"extra\":{\"nested\":[1,2,3]}}");
        assertThat(m).isEqualTo(new ControlMessage.Open(42, "db:5432"));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "not json at all",
                "{\"type\":\"open\",\"connection\":1,\"target\":", // truncated
                "[1,2,3]", // not an object
                "{\"type\":\"shutdown\",\"connection\":1}", // unknown type
                "{\"connection\":1,\"target\":\"db:5432\"}", // no type
                "{\"type\":\"open\",\"connection\":1}", // open without target
                "{\"type\":\"advertise\",\"agentVersion\":\"1\"}", // advertise without targets
                "{\"type\":\"dialFailed\",\"connection\":1,\"detail\":\"x\"}", // dialFailed without error
                "{\"type\":\"dialFailed\",\"connection\":1,\"error\":\"EXPLODED\"}", // unknown error
                "{\"type\":\"open\",\"connection\":\"one\",\"target\":\"db:5432\"}", // id not a number
            })
    void rejectsMalformedUnknownAndIncompleteMessagesNamingTheInput(String line) {
        assertThatThrownBy(() -> decode(line))
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining(line);
    }

    @Test
    void rejectsAnOpenWithoutConnectionIdInsteadOfDefaultingToZero() {
        // An open for "connection 0" would make the agent dial and open a stream nobody asked for.
        String line = "{\"type\":\"open\",\"target\":\"db:5432\"}";
        assertThatThrownBy(() -> decode(line))
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining(line);
    }

    @Test
    void showsAtMostTheFirst120CharactersOfABadLine() {
        String prefix = "x".repeat(120);
        String line = prefix + "SECRET-TAIL".repeat(100);
        assertThatThrownBy(() -> decode(line))
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining("'" + prefix + "...'")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("SECRET-TAIL"));
    }

    @Test
    void decoderSplitsMessagesIndependentlyOfFrameBoundaries() {
        channel = decoderChannel();
        channel.writeInbound(Unpooled.copiedBuffer(
                "{\"type\":\"open\",\"connection\":1,\"target\":\"a:1\"}\n{\"type\":\"op", StandardCharsets.UTF_8));
        channel.writeInbound(
                Unpooled.copiedBuffer("en\",\"connection\":2,\"target\":\"b:2\"}\r\n", StandardCharsets.UTF_8));
        assertThat(channel.<Object>readInbound()).isEqualTo(new ControlMessage.Open(1, "a:1"));
        assertThat(channel.<Object>readInbound()).isEqualTo(new ControlMessage.Open(2, "b:2"));
        assertThat(channel.<Object>readInbound()).isNull();
    }

    @Test
    void decoderSkipsBlankLines() {
        channel = decoderChannel();
        channel.writeInbound(Unpooled.copiedBuffer(
                "\n\r\n{\"type\":\"open\",\"connection\":3,\"target\":\"c:3\"}\n\n", StandardCharsets.UTF_8));
        assertThat(channel.<Object>readInbound()).isEqualTo(new ControlMessage.Open(3, "c:3"));
        assertThat(channel.<Object>readInbound()).isNull();
    }

    @Test
    void decoderAcceptsAMessageOfExactlyTheLimit() {
        channel = decoderChannel();
        String head = "{\"type\":\"advertise\",\"targets\":[],\"agentVersion\":\"";
        String tail = "\"}";
        String version = "v".repeat(Protocol.MAX_CONTROL_MESSAGE_BYTES - head.length() - tail.length());
        channel.writeInbound(Unpooled.copiedBuffer(head + version + tail + "\n", StandardCharsets.US_ASCII));
        ControlMessage.Advertise a = channel.readInbound();
        assertThat(a.agentVersion()).hasSize(version.length());
    }

    @Test
    void decoderFailsFastOnAnUnterminatedLineLongerThanTheLimit() {
        channel = decoderChannel();
        ByteBuf tooLong = Unpooled.wrappedBuffer(new byte[Protocol.MAX_CONTROL_MESSAGE_BYTES + 1]);
        assertThatThrownBy(() -> channel.writeInbound(tooLong))
                .isInstanceOf(TooLongFrameException.class)
                .isInstanceOf(DecoderException.class);
        assertThat(channel.<Object>readInbound()).isNull();
    }

    @Test
    void decoderRejectsATerminatedLineLongerThanTheLimit() {
        channel = decoderChannel();
        ByteBuf tooLong = Unpooled.buffer()
                .writeBytes(new byte[Protocol.MAX_CONTROL_MESSAGE_BYTES + 1])
                .writeByte('\n');
        assertThatThrownBy(() -> channel.writeInbound(tooLong)).isInstanceOf(TooLongFrameException.class);
        assertThat(channel.<Object>readInbound()).isNull();
    }

    private EmbeddedChannel decoderChannel() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ControlCodec.addDecoder(ch.pipeline());
        return ch;
    }

    private static ControlMessage decode(String line) {
        ByteBuf buf = Unpooled.copiedBuffer(line, StandardCharsets.UTF_8);
        try {
            return ControlCodec.decode(buf);
        } finally {
            buf.release();
        }
    }
}
