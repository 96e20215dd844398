package dev.underpass.protocol;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.MessageToMessageDecoder;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Encodes and decodes {@link ControlMessage}s as newline-delimited JSON in the DATA frames of
 * the session stream. A line longer than {@link Protocol#MAX_CONTROL_MESSAGE_BYTES} or that is
 * not a known message fails with a {@link DecoderException}, which ends the session.
 */
public final class ControlCodec {
    // Unknown fields are ignored (newer peers may add them); wrong types are errors, not coerced:
    // "connection": null or "7" must not become connection 0 or 7.
    private static final ObjectMapper JSON = JsonMapper.builder()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .build();

    private static final Messages MESSAGES = new Messages();

    private ControlCodec() {}

    /** One message as a DATA frame (not END_STREAM). */
    public static Http2DataFrame frame(ByteBufAllocator alloc, ControlMessage message) {
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(message);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(
                    "cannot encode " + message.getClass().getSimpleName(), e);
        }
        ByteBuf buf = alloc.buffer(json.length + 1).writeBytes(json).writeByte('\n');
        return new DefaultHttp2DataFrame(buf);
    }

    /** How many bytes {@code value} takes in a control message line, as JSON. */
    public static int encodedLength(Object value) {
        try {
            return JSON.writeValueAsBytes(value).length;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode " + value.getClass().getSimpleName(), e);
        }
    }

    /** The {@code type} name of {@code message} on the wire, for error messages. */
    public static String typeOf(ControlMessage message) {
        for (JsonSubTypes.Type t :
                ControlMessage.class.getAnnotation(JsonSubTypes.class).value()) {
            if (t.value() == message.getClass()) {
                return t.name();
            }
        }
        return message.getClass().getSimpleName();
    }

    /** Decodes one line (without its newline). */
    public static ControlMessage decode(ByteBuf line) {
        try {
            ControlMessage m = JSON.readValue(ByteBufUtil.getBytes(line), ControlMessage.class);
            if (m == null) { // the line "null"
                throw new DecoderException("control message: 'null' (expected: a JSON object with a type)");
            }
            return m;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            String text = line.toString(StandardCharsets.UTF_8);
            String shown = text.length() > 120 ? text.substring(0, 120) + "..." : text;
            throw new DecoderException("control message: '" + shown + "' (expected: " + e.getOriginalMessage() + ")");
        } catch (java.io.IOException e) {
            throw new DecoderException("control message: " + e.getMessage(), e);
        }
    }

    /**
     * Adds, after any handler that turns DATA frames into their content, the decoding of control
     * messages: lines bounded by {@link Protocol#MAX_CONTROL_MESSAGE_BYTES}, blank lines skipped,
     * each line decoded into a {@link ControlMessage} for the next handler.
     */
    public static void addDecoder(ChannelPipeline pipeline) {
        pipeline.addLast("control-lines", new LineBasedFrameDecoder(Protocol.MAX_CONTROL_MESSAGE_BYTES, true, true));
        pipeline.addLast("control-messages", MESSAGES);
    }

    /** Lines to messages; an empty line (a keep-alive) is skipped, anything invalid fails. */
    @ChannelHandler.Sharable
    private static final class Messages extends MessageToMessageDecoder<ByteBuf> {
        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf line, List<Object> out) {
            if (line.isReadable()) {
                out.add(ControlCodec.decode(line));
            }
        }
    }
}
