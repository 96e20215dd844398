package dev.underpass.gateway.consumer;

import dev.underpass.gateway.audit.ConnectionAudit;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;

/**
 * Routes a TLS connection by the server name of its ClientHello to the endpoint of that name,
 * without terminating TLS: the consumer's TLS session is with the private service behind the
 * agent. The ClientHello, read to find the name, is replayed as the tunnel's first bytes.
 */
public final class SniRouter extends AbstractSniHandler<EndpointPorts.BoundPort> {
    private final ConsumerRoutes routes;
    private final RepeatedEvents refusals;

    SniRouter(ConsumerRoutes routes, RepeatedEvents refusals) {
        super(16 * 1024, 10_000);
        this.routes = routes;
        this.refusals = refusals;
    }

    @Override
    protected Future<EndpointPorts.BoundPort> lookup(ChannelHandlerContext ctx, String hostname) {
        return ctx.executor().newSucceededFuture(hostname == null ? null : routes.findByServerName(hostname));
    }

    @Override
    protected void onLookupComplete(
            ChannelHandlerContext ctx, String hostname, Future<EndpointPorts.BoundPort> future) {
        EndpointPorts.BoundPort listener = future.getNow();
        if (listener == null) {
            refusals.info(
                    RepeatedEvents.source(ctx.channel().remoteAddress()),
                    "TLS connection from {} refused: {}",
                    ctx.channel().remoteAddress(),
                    hostname == null
                            ? "no server name in its ClientHello"
                            : "server name " + hostname + " is no available endpoint");
            ctx.close();
            return;
        }
        GatewayLog.PROXY.info(
                "TLS connection from {} for {} -> endpoint {} port {}",
                ctx.channel().remoteAddress(),
                hostname,
                listener.route().endpoint(),
                listener.route().servicePort());
        ctx.channel().config().setAutoRead(false);
        ConnectionAudit.via(ctx.channel(), "TLS listener");
        // Leaving the pipeline hands the bytes read so far (the ClientHello) to the next handler.
        ctx.pipeline().addAfter(ctx.name(), "sni-hand-over", new HandOver(listener));
        ctx.pipeline().remove(this);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        refusals.info(
                RepeatedEvents.source(ctx.channel().remoteAddress()),
                "TLS connection from {} closed: {}",
                ctx.channel().remoteAddress(),
                cause.toString());
        ctx.close();
    }

    /** Takes the bytes the router read and starts the tunnel with them first. */
    private static final class HandOver extends ChannelInboundHandlerAdapter {
        private final EndpointPorts.BoundPort listener;

        HandOver(EndpointPorts.BoundPort listener) {
            this.listener = listener;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf bytes)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            ctx.pipeline().remove(this);
            ctx.pipeline().addFirst("replay", new ReplayFirst(bytes));
            ConsumerPort.endHandshake(ctx.channel());
            listener.adopt(ctx.channel());
        }
    }
}
