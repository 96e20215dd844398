package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the control-message decoding pipeline ({@link ControlCodec#addDecoder}) as a session
 * stream feeds it: arbitrary bytes in arbitrary chunks, optionally behind one line around the
 * 64 KiB limit. Seeds and regression inputs:
 * {@code src/test/resources/dev/underpass/protocol/ControlStreamFuzzTestInputs/decodeStream};
 * how to fuzz: docs/fuzzing.md.
 *
 * <p>Input layout (Jazzer's {@link FuzzedDataProvider} takes numbers from the end): the stream
 * bytes, then one byte whose lowest bit asks for the long first line, (if so, one byte choosing
 * its length, the limit -2 to +2), and last the chunk size (1-255).
 */
class ControlStreamFuzzTest {
    private static final int MAX = Protocol.MAX_CONTROL_MESSAGE_BYTES;

    /**
     * The pipeline only ever fails with a {@link DecoderException} (on which the session ends),
     * exactly when some line is refused, and passes on exactly the messages that decoding each
     * line on its own gives, in order; each re-encodes to an equal message.
     */
    @FuzzTest
    @DictionaryFile(resourcePath = "control-messages.dict")
    void decodeStream(FuzzedDataProvider data) {
        int chunkSize = data.consumeInt(1, 256);
        byte[] stream;
        if (data.consumeBoolean()) {
            int longLine = data.consumeInt(MAX - 2, MAX + 2);
            byte[] rest = data.consumeRemainingAsBytes();
            ByteArrayOutputStream s = new ByteArrayOutputStream(longLine + 2 + rest.length);
            byte[] pad = new byte[longLine];
            Arrays.fill(pad, (byte) 'x');
            s.writeBytes(pad);
            s.writeBytes(rest);
            stream = s.toByteArray();
            chunkSize = Math.max(chunkSize, 4096); // a long line in 256-byte chunks only costs time
        } else {
            stream = data.consumeRemainingAsBytes();
        }

        List<ControlMessage> got = new ArrayList<>();
        boolean failed = false;
        EmbeddedChannel channel = new EmbeddedChannel();
        ControlCodec.addDecoder(channel.pipeline());
        try {
            for (int at = 0; at < stream.length; at += chunkSize) {
                int n = Math.min(chunkSize, stream.length - at);
                try {
                    channel.writeInbound(Unpooled.wrappedBuffer(stream, at, n));
                } catch (DecoderException e) {
                    // The session handler closes the session on this; the decoder itself carries
                    // on with the next line, and so does this test, to check all of them.
                    failed = true;
                }
                for (Object m; (m = channel.readInbound()) != null; ) {
                    assertThat(m).isInstanceOf(ControlMessage.class);
                    got.add((ControlMessage) m);
                }
            }
        } finally {
            channel.finishAndReleaseAll();
        }

        for (ControlMessage m : got) {
            ControlLineFuzzTest.assertRoundTrip(m);
        }
        Expected expected = expected(stream);
        if (expected.ambiguous) {
            return; // see expected()
        }
        assertThat(got).as("the messages of the lines that decode, in order").isEqualTo(expected.messages);
        assertThat(failed).as("a refused line fails the pipeline").isEqualTo(expected.fails);
    }

    /**
     * @param ambiguous a line of exactly the limit ends with CR LF: Netty's decoder refuses it
     *     when a read ends between the CR and the LF (the CR then counts), and takes it otherwise
     */
    private record Expected(List<ControlMessage> messages, boolean fails, boolean ambiguous) {}

    /**
     * The model: split on LF (dropping a CR before it); a line over the limit is refused, a blank
     * one skipped, every other one decoded on its own (refused if it does not decode); an
     * unterminated rest over the limit is refused too.
     */
    private static Expected expected(byte[] stream) {
        List<ControlMessage> messages = new ArrayList<>();
        boolean fails = false;
        boolean ambiguous = false;
        int start = 0;
        for (int i = 0; i < stream.length; i++) {
            if (stream[i] != '\n') {
                continue;
            }
            int end = i > start && stream[i - 1] == '\r' ? i - 1 : i;
            int length = end - start;
            int from = start;
            start = i + 1;
            ambiguous |= length == MAX && end < i;
            if (length > MAX) {
                fails = true;
            } else if (length > 0) {
                try {
                    messages.add(ControlCodec.decode(Unpooled.wrappedBuffer(stream, from, length)));
                } catch (DecoderException e) {
                    fails = true;
                }
            }
        }
        fails |= stream.length - start > MAX;
        return new Expected(messages, fails, ambiguous);
    }

    /**
     * Regression, found by fuzzing ({@code crash-json-null-line}). Was a bug, fixed
     * in {@link ControlCodec#decode}: a line {@code null} ends the session with Netty's
     * "NullPointerException: element" instead of the codec's refusal naming the line.
     */
    @Test
    void aJsonNullLineEndsTheSessionWithTheCodecsRefusal() {
        EmbeddedChannel channel = new EmbeddedChannel();
        ControlCodec.addDecoder(channel.pipeline());
        try {
            assertThatThrownBy(() -> channel.writeInbound(Unpooled.copiedBuffer("null\n", StandardCharsets.UTF_8)))
                    .isInstanceOf(DecoderException.class)
                    .hasMessageContaining("control message: 'null'")
                    .hasNoCause();
        } finally {
            channel.finishAndReleaseAll();
        }
    }
}
