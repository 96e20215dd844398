package dev.underpass.protocol;

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
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import java.nio.charset.StandardCharsets;

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

    /** Drops empty lines, so that a blank line between messages is not an error. */
    private static final ChannelInboundHandlerAdapter SKIP_BLANK_LINES = new SkipBlankLines();

    private ControlCodec() {
    }

    /** One message as a DATA frame (not END_STREAM). */
    public static Http2DataFrame frame(ByteBufAllocator alloc, ControlMessage message) {
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(message);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode " + message.getClass().getSimpleName(), e);
        }
        ByteBuf buf = alloc.buffer(json.length + 1).writeBytes(json).writeByte('\n');
        return new DefaultHttp2DataFrame(buf);
    }

    /** Decodes one line (without its newline). */
    public static ControlMessage decode(ByteBuf line) {
        try {
            return JSON.readValue(ByteBufUtil.getBytes(line), ControlMessage.class);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            String text = line.toString(StandardCharsets.UTF_8);
            String shown = text.length() > 120 ? text.substring(0, 120) + "..." : text;
            throw new DecoderException("control message: '" + shown + "' (expected: " + e.getOriginalMessage() + ")");
        } catch (java.io.IOException e) {
            throw new DecoderException("control message: " + e.getMessage(), e);
        }
    }

    /**
     * Adds, after any handler that turns DATA frames into their content, a line splitter
     * bounded by {@link Protocol#MAX_CONTROL_MESSAGE_BYTES}.
     */
    public static void addLineDecoder(ChannelPipeline pipeline) {
        pipeline.addLast("control-lines", new LineBasedFrameDecoder(Protocol.MAX_CONTROL_MESSAGE_BYTES, true, true));
        pipeline.addLast("control-skip-blank", SKIP_BLANK_LINES);
    }

    @ChannelHandler.Sharable
    private static final class SkipBlankLines extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf line && !line.isReadable()) {
                line.release();
                return;
            }
            ctx.fireChannelRead(msg);
        }
    }
}
