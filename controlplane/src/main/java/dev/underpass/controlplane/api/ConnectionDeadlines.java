package dev.underpass.controlplane.api;

import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The deadlines of one API connection. A read timeout alone restarts at every byte, so a client
 * that trickles a byte every few seconds would hold its connection (and a slot of the server's)
 * for ever: here the TLS handshake must end within {@link ApiServer.Timeouts#handshake()} of the
 * connection, each request (head and body) within {@link ApiServer.Timeouts#request()} of its
 * first byte, and a connection idle between requests closes after
 * {@link ApiServer.Timeouts#idle()}. {@link #bytes()} goes after TLS and before the HTTP codec
 * (it sees a request's first byte), {@link #requests()} after the codec (it sees a request's end).
 */
final class ConnectionDeadlines {
    private final ApiServer.Timeouts timeouts;
    private final RepeatedEvents refusals;
    private ScheduledFuture<?> timer;
    /** Whether a request has begun and not yet ended. */
    private boolean reading;

    /** {@code refusals}: where closes are logged, one line per source and interval (slow clients come in floods). */
    ConnectionDeadlines(ApiServer.Timeouts timeouts, RepeatedEvents refusals) {
        this.timeouts = timeouts;
        this.refusals = refusals;
    }

    ChannelHandler bytes() {
        return new ChannelInboundHandlerAdapter() {
            @Override
            public void channelActive(ChannelHandlerContext ctx) throws Exception {
                arm(
                        ctx,
                        timeouts.handshake(),
                        "its TLS handshake did not finish within " + seconds(timeouts.handshake()));
                super.channelActive(ctx);
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
                if (event instanceof SslHandshakeCompletionEvent done && done.isSuccess()) {
                    idle(ctx);
                }
                super.userEventTriggered(ctx, event);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (!reading && msg instanceof ByteBuf b && b.isReadable()) {
                    reading = true;
                    arm(
                            ctx,
                            timeouts.request(),
                            "its request was not complete within " + seconds(timeouts.request())
                                    + " of its first byte");
                }
                super.channelRead(ctx, msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                cancel();
                super.channelInactive(ctx);
            }
        };
    }

    ChannelHandler requests() {
        return new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof LastHttpContent) {
                    // Bytes of a pipelined request may have come with this one's end: its clock starts at the next
                    // read.
                    reading = false;
                    idle(ctx);
                }
                super.channelRead(ctx, msg);
            }
        };
    }

    private void idle(ChannelHandlerContext ctx) {
        arm(ctx, timeouts.idle(), null);
    }

    /** Closes the connection after {@code d}, logging {@code why} (sparingly) unless it is null: an idle close. */
    private void arm(ChannelHandlerContext ctx, Duration d, String why) {
        cancel();
        timer = ctx.executor()
                .schedule(
                        () -> {
                            if (why == null) {
                                ApiHandler.log.debug(
                                        "connection from {} idle for {}: closed",
                                        ctx.channel().remoteAddress(),
                                        seconds(d));
                            } else {
                                refusals.info(
                                        RepeatedEvents.source(ctx.channel().remoteAddress()),
                                        "connection from {} closed: {}",
                                        ctx.channel().remoteAddress(),
                                        why);
                            }
                            ctx.close();
                        },
                        d.toNanos(),
                        TimeUnit.NANOSECONDS);
    }

    private void cancel() {
        if (timer != null) {
            timer.cancel(false);
        }
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }
}
