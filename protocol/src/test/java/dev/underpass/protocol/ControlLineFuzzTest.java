package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.http2.Http2DataFrame;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes {@link ControlCodec#decode}, one control line as the peer sends it (the gateway decodes
 * what agents send and the other way round; either may be hostile). Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/protocol/ControlLineFuzzTestInputs/decode}; how to fuzz:
 * docs/fuzzing.md.
 */
class ControlLineFuzzTest {

    /**
     * Any line decodes or is refused with a {@link DecoderException} (never an NPE, a
     * ClassCastException, a StackOverflowError...); what decodes is encoded as one line again
     * and decodes to an equal message.
     */
    @FuzzTest
    @DictionaryFile(resourcePath = "control-messages.dict")
    void decode(byte[] line) {
        ControlMessage message;
        ByteBuf buf = Unpooled.wrappedBuffer(line);
        try {
            message = ControlCodec.decode(buf);
        } catch (DecoderException refused) {
            return;
        } finally {
            buf.release();
        }
        assertThat(message).isNotNull();
        assertRoundTrip(message);
    }

    /** {@code message} encodes as exactly one line that decodes to an equal message. */
    static void assertRoundTrip(ControlMessage message) {
        Http2DataFrame frame = ControlCodec.frame(ByteBufAllocator.DEFAULT, message);
        try {
            ByteBuf content = frame.content();
            int newline = content.indexOf(content.readerIndex(), content.writerIndex(), (byte) '\n');
            assertThat(newline).as("the one newline ends the line").isEqualTo(content.writerIndex() - 1);
            ControlMessage again =
                    ControlCodec.decode(content.slice(content.readerIndex(), content.readableBytes() - 1));
            assertThat(again).as("decode(encode(%s))", message).isEqualTo(message);
            assertThat(ControlCodec.typeOf(message)).isNotEmpty();
        } finally {
            frame.release();
        }
    }

    /**
     * Regression, found by fuzzing ({@code crash-json-null-decodes-to-null}). Was a bug,
     * fixed in {@link ControlCodec#decode}: the line {@code null} is valid JSON but no
     * message, and decode returns null instead of refusing it; in the pipeline that null becomes
     * a NullPointerException inside Netty's decoder ("element"), not the codec's own message.
     */
    @Test
    void aJsonNullLineIsRefusedLikeAnyOtherLineThatIsNoMessage() {
        ByteBuf line = Unpooled.copiedBuffer("null", StandardCharsets.UTF_8);
        try {
            assertThatThrownBy(() -> ControlCodec.decode(line))
                    .isInstanceOf(DecoderException.class)
                    .hasMessageContaining("control message: 'null'");
        } finally {
            line.release();
        }
    }
}
