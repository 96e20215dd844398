package dev.underpass.agent.link;

import dev.underpass.agent.health.HealthChecker;
import dev.underpass.agent.target.TargetDialer;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's control messages on an established session: {@code open} to the dialer, health
 * checks to the checker, {@code draining} to the link's state. Anything the session's protocol
 * version does not allow ends the link.
 */
final class ControlHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent");

    private final TargetDialer dialer;
    private final HealthChecker health;
    private final java.util.function.Consumer<ControlMessage.Listeners> listeners;
    private final HostAndPort gateway;
    /** True once the agent itself is stopping: a stopping gateway's reconnect hint then no longer matters. */
    private final BooleanSupplier stopping;

    ControlHandler(
            TargetDialer dialer,
            HealthChecker health,
            java.util.function.Consumer<ControlMessage.Listeners> listeners,
            HostAndPort gateway,
            BooleanSupplier stopping) {
        this.listeners = listeners;
        this.dialer = dialer;
        this.health = health;
        this.gateway = gateway;
        this.stopping = stopping;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Http2StreamChannel session = (Http2StreamChannel) ctx.channel();
        LinkState s = LinkState.of(session.parent());
        switch ((ControlMessage) msg) {
            case ControlMessage.Open open -> dialer.open(session, open);
            case ControlMessage.HealthChecks c
            when s.version >= 2 ->
                health.replace(c.checks(), h -> session.writeAndFlush(ControlCodec.frame(session.alloc(), h)));
            case ControlMessage.Draining d
            when s.version >= 2 -> {
                if (d.reconnectMillis() != null && !stopping.getAsBoolean()) {
                    s.reconnectMillis = d.reconnectMillis();
                    log.info(
                            "gateway {} is stopping; once the link closes, reconnecting about every {} ms",
                            gateway,
                            d.reconnectMillis());
                }
                s.draining.complete(null);
            }
            case ControlMessage.Listeners l when s.version >= 3 -> listeners.accept(l);
            case ControlMessage m ->
                throw new IllegalArgumentException("control message: " + ControlCodec.typeOf(m)
                        + " (expected from the gateway in protocol version " + s.version + ": open"
                        + (s.version >= 3
                                ? ", healthChecks, draining or listeners)"
                                : s.version >= 2 ? ", healthChecks or draining)" : ")"));
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Channel linkChannel = ((Http2StreamChannel) ctx.channel()).parent();
        LinkState.of(linkChannel).fail("bad control message from the gateway: " + Causes.root(cause));
        linkChannel.close();
    }
}
