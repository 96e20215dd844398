package dev.underpass.agent.link;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

/** The gateway cannot open streams (server push is off); refuses any that appear. */
final class RefuseInbound extends ChannelInboundHandlerAdapter {
    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.close();
    }
}
