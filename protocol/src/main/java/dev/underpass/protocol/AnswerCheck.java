package dev.underpass.protocol;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.function.Consumer;

/**
 * The first handler of a stream an agent opened for a socket (a target's data stream, an agent
 * listener's connect stream): lets only a 200 answer through to the {@link StreamRelay} behind
 * it; anything else closes the stream, resets the socket and tells {@code refused} what came.
 */
public final class AnswerCheck extends ChannelInboundHandlerAdapter {
    private final Channel socket;
    private final Consumer<String> refused;

    public AnswerCheck(Channel socket, Consumer<String> refused) {
        this.socket = socket;
        this.refused = refused;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        boolean ok = msg instanceof Http2HeadersFrame h
                && h.headers().status() != null
                && "200".contentEquals(h.headers().status())
                && !h.isEndStream();
        String what =
                msg instanceof Http2HeadersFrame h ? "status " + h.headers().status() : "no response headers";
        ReferenceCountUtil.release(msg);
        if (ok) {
            ctx.pipeline().remove(this);
            return;
        }
        refused.accept(what);
        ctx.close();
        StreamRelay.resetSocket(socket);
    }
}
