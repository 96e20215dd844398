package dev.underpass.gateway.consumer;

import dev.underpass.telemetry.RepeatedEvents;
import io.netty.channel.ChannelHandlerAdapter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A deadline for a consumer's handshake (proxy request, SOCKS5 negotiation, ClientHello): the
 * connection closes when it has not become a tunnel in time, however slowly it trickles bytes.
 * Removing the handler (the tunnel starts) cancels it.
 */
public final class HandshakeDeadline extends ChannelHandlerAdapter {
    /** The name the handshake handlers remove it by. */
    public static final String NAME = "handshake-timeout";

    private final int seconds;
    private final RepeatedEvents refusals;
    private ScheduledFuture<?> deadline;

    /** {@code refusals}: where the close is logged, one line per source and interval (slow clients come in floods). */
    public HandshakeDeadline(int seconds, RepeatedEvents refusals) {
        this.seconds = seconds;
        this.refusals = refusals;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        deadline = ctx.executor()
                .schedule(
                        () -> {
                            refusals.info(
                                    RepeatedEvents.source(ctx.channel().remoteAddress()),
                                    "connection from {} closed: no complete request within {}s",
                                    ctx.channel().remoteAddress(),
                                    seconds);
                            ctx.close();
                        },
                        seconds,
                        TimeUnit.SECONDS);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (deadline != null) {
            deadline.cancel(false);
        }
    }
}
