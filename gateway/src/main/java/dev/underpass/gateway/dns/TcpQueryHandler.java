package dev.underpass.gateway.dns;

import static dev.underpass.gateway.dns.DnsLog.log;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.dns.DefaultDnsResponse;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * One TCP connection (RFC 7766): answers its queries in order, one at a time.
 *
 * <p>A connection has at most one query in flight: reading pauses until its answer is written,
 * and the queries that came in the same read (of at most
 * {@value PrivateDnsServer#MAX_TCP_QUERY_BYTES} bytes, so a few hundred) wait their turn;
 * pipelining clients get their answers in order. A connection that delivers no complete query
 * for its idle timeout ({@link PrivateDnsServer.Options#tcpIdleTimeout}, counted again from each
 * forwarded answer) is closed, which also ends slow writers and clients that do not read their
 * answers (RFC 7766 §6.2.3 asks for timeouts of seconds).
 */
final class TcpQueryHandler extends ChannelInboundHandlerAdapter {
    private final DnsAnswers answers;
    private final DnsForwarder forwarder;
    private final Duration idleTimeout;
    private final ArrayDeque<DnsQuery> waiting = new ArrayDeque<>();
    private boolean writing;
    private ScheduledFuture<?> idle;

    TcpQueryHandler(DnsAnswers answers, DnsForwarder forwarder, Duration idleTimeout) {
        this.answers = answers;
        this.forwarder = forwarder;
        this.idleTimeout = idleTimeout;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        restartIdleTimer(ctx);
        super.channelActive(ctx);
    }

    private void restartIdleTimer(ChannelHandlerContext ctx) {
        if (idle != null) {
            idle.cancel(false);
        }
        long millis = idleTimeout.toMillis();
        idle = ctx.executor()
                .schedule(
                        () -> {
                            log.debug(
                                    "private DNS: TCP connection from {} closed: no complete query within {}s",
                                    ctx.channel().remoteAddress(),
                                    millis / 1000.0);
                            ctx.close();
                        },
                        millis,
                        TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof DnsQuery query)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        restartIdleTimer(ctx);
        waiting.add(query);
        ctx.channel().config().setAutoRead(false);
        if (!writing) {
            answerNext(ctx);
        }
    }

    private void answerNext(ChannelHandlerContext ctx) {
        DnsQuery query = waiting.poll();
        if (query == null) {
            ctx.channel().config().setAutoRead(true);
            return;
        }
        Object from = ctx.channel().remoteAddress();
        DnsResponse response = new DefaultDnsResponse(query.id(), query.opCode());
        try {
            if (answers.answer(query, response, false, from)) {
                writing = true;
                forwarder.forward(ctx.channel().eventLoop(), query, response, 0, from, reply -> {
                    // The wait was the upstream's, not the client's.
                    restartIdleTimer(ctx);
                    send(ctx, reply instanceof ByteBuf answer ? frame(answer) : reply, from);
                });
                return;
            }
        } catch (RuntimeException e) {
            response.release();
            throw e;
        } finally {
            query.release();
        }
        writing = true;
        send(ctx, response, from);
    }

    /** A relayed answer with its two-byte length (RFC 7766 §8). */
    private static ByteBuf frame(ByteBuf answer) {
        return Unpooled.wrappedBuffer(Unpooled.buffer(2).writeShort(answer.readableBytes()), answer);
    }

    private void send(ChannelHandlerContext ctx, Object answer, Object from) {
        if (!ctx.channel().isActive()) {
            // Closed while the upstream answered (idle timeout, client gone): nothing to write to.
            ReferenceCountUtil.release(answer);
            return;
        }
        ctx.writeAndFlush(answer).addListener(f -> {
            writing = false;
            if (f.isSuccess()) {
                answerNext(ctx);
            } else {
                log.debug(
                        "private DNS: TCP answer to {} not sent, closing: {}",
                        from,
                        f.cause().toString());
                ctx.close();
            }
        });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        if (idle != null) {
            idle.cancel(false);
        }
        DnsQuery q;
        while ((q = waiting.poll()) != null) {
            q.release();
        }
        super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug(
                "private DNS: TCP connection from {} closed: {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }
}
