package dev.underpass.protocol;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.ReferenceCountUtil;

/**
 * The first handler of a stream an agent opened for a socket (a target's data stream, an agent
 * listener's connect stream): lets only a 200 answer through to the {@link StreamRelay} behind
 * it; anything else closes the stream and tells the opener, which ends its socket.
 */
public final class AnswerCheck extends ChannelInboundHandlerAdapter {
    /** What the stream's opener does with the answer. */
    @FunctionalInterface
    public interface Outcome {
        /** A 200: the relay goes on. Called on the stream's event loop, before any byte of the answer's body. */
        default void accepted() {}

        /** Anything else, described ("status 404"): the stream is closed; the opener ends its socket. */
        void refused(String what);
    }

    private final Outcome outcome;

    public AnswerCheck(Outcome outcome) {
        this.outcome = outcome;
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
            outcome.accepted();
            return;
        }
        ctx.close();
        outcome.refused(what);
    }
}
