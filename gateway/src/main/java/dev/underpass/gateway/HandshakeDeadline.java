package dev.underpass.gateway;

import io.netty.channel.ChannelHandlerAdapter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A deadline for a consumer's handshake (proxy request, SOCKS5 negotiation, ClientHello): the
 * connection closes when it has not become a tunnel in time, however slowly it trickles bytes.
 * Removing the handler (the tunnel starts) cancels it.
 */
final class HandshakeDeadline extends ChannelHandlerAdapter {
    /** The name the handshake handlers remove it by. */
    static final String NAME = "handshake-timeout";

    private final int seconds;
    private ScheduledFuture<?> deadline;

    HandshakeDeadline(int seconds) {
        this.seconds = seconds;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        deadline = ctx.executor().schedule(() -> {
            ForwardProxy.log.info("connection from {} closed: no complete request within {}s", ctx.channel().remoteAddress(),
                    seconds);
            ctx.close();
        }, seconds, TimeUnit.SECONDS);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (deadline != null) {
            deadline.cancel(false);
        }
    }
}
