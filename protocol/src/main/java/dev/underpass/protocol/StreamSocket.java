package dev.underpass.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;

/**
 * Presents an HTTP/2 stream to {@link StreamRelay} as the socket side of a relay: DATA is read as
 * bytes and its END_STREAM as the end of input (a FIN), bytes written go out as DATA, and a reset
 * from the other end is an error, as a TCP RST would be. A gateway node uses it for the relay
 * stream of a peer node (docs/cluster.md), so that one relay carries the consumer's bytes between
 * the peer's stream and an agent's stream with the same flow control, half-close and reset.
 */
public final class StreamSocket extends ChannelDuplexHandler {
    private boolean inputDone;

    private StreamSocket() {}

    /** Makes {@code stream} a socket for {@link StreamRelay#start}; its auto-read must be off. */
    public static Http2StreamChannel adapt(Http2StreamChannel stream) {
        stream.pipeline().addFirst("stream-socket", new StreamSocket());
        return stream;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2DataFrame data) {
            boolean end = data.isEndStream();
            ByteBuf content = data.content();
            if (content.isReadable()) {
                ctx.fireChannelRead(content);
            } else {
                content.release();
            }
            if (end) {
                endOfInput(ctx);
            }
        } else if (msg instanceof Http2HeadersFrame headers) {
            if (headers.isEndStream()) {
                endOfInput(ctx);
            }
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    private void endOfInput(ChannelHandlerContext ctx) {
        if (!inputDone) {
            inputDone = true;
            ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame reset) {
            ctx.fireExceptionCaught(new IOException("the peer node reset the stream (" + reset.errorCode() + ")"));
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        ctx.write(msg instanceof ByteBuf bytes ? new DefaultHttp2DataFrame(bytes) : msg, promise);
    }
}
