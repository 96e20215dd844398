package dev.underpass.agent.link;

import dev.underpass.protocol.Causes;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;
import java.time.Duration;

/** The end of the link's pipeline: closes it on a missed heartbeat or an error, recording why. */
final class LinkHandler extends ChannelInboundHandlerAdapter {
    private final Duration heartbeatTimeout;

    LinkHandler(Duration heartbeatTimeout) {
        this.heartbeatTimeout = heartbeatTimeout;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            LinkState.of(ctx.channel())
                    .fail("no frame from the gateway within the heartbeat timeout (" + heartbeatTimeout.toSeconds()
                            + "s)");
            ctx.close();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LinkState.of(ctx.channel()).fail(Causes.root(cause));
        ctx.close();
    }
}
