package dev.underpass.gateway.consumer.proxy;

import dev.underpass.gateway.consumer.ConsumerPort;
import dev.underpass.gateway.consumer.ConsumerRoutes;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5ServerEncoder;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * The gateway's forward proxy for consumers such as CI runners: HTTP CONNECT and SOCKS5 on one
 * port, told apart by the first byte. A consumer authenticates with an API key of its account
 * and names an available endpoint of that account by DNS name and service port; the connection
 * is then carried like one to the endpoint's own listener. Anything else is refused: there is
 * no egress to the public internet.
 */
public final class ForwardProxy implements AutoCloseable {
    static final int MAX_HEADER_BYTES = 8192;
    private static final byte SOCKS5 = 0x05;

    private final ProxyChecks checks;
    private final ConsumerRoutes routes;
    private final Egress egress;
    private final int handshakeSeconds;
    /** Refusals and handshakes that fail, one line per source and interval: a bad client repeats itself. */
    private final RepeatedEvents refusals;

    private Channel server;

    public ForwardProxy(ProxyChecks checks, ConsumerRoutes routes, Egress egress, RepeatedEvents refusals) {
        this(checks, routes, egress, refusals, ConsumerPort.HANDSHAKE_SECONDS);
    }

    /** With another handshake timeout (tests of slow clients). */
    public ForwardProxy(
            ProxyChecks checks, ConsumerRoutes routes, Egress egress, RepeatedEvents refusals, int handshakeSeconds) {
        this.refusals = refusals;
        this.checks = checks;
        this.routes = routes;
        this.egress = egress;
        this.handshakeSeconds = handshakeSeconds;
    }

    public InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws InterruptedException {
        server = ConsumerPort.bind(group, address, handshakeSeconds, refusals, "detect", Detect::new);
        return (InetSocketAddress) server.localAddress();
    }

    /** SOCKS5 starts with its version byte; anything else is taken for HTTP. */
    private final class Detect extends ByteToMessageDecoder {
        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            if (!in.isReadable()) {
                return;
            }
            if (in.getByte(in.readerIndex()) == SOCKS5) {
                ctx.pipeline().addAfter(ctx.name(), "socks-encoder", Socks5ServerEncoder.DEFAULT);
                ctx.pipeline().addAfter("socks-encoder", "socks-decoder", new Socks5InitialRequestDecoder());
                ctx.pipeline().addAfter("socks-decoder", "socks", new Socks5Proxy(checks, routes, egress, refusals));
            } else {
                ctx.pipeline().addAfter(ctx.name(), "http", new HttpServerCodec(4096, MAX_HEADER_BYTES, 8192));
                ctx.pipeline().addAfter("http", "connect", new HttpConnectProxy(checks, routes, egress, refusals));
            }
            ctx.pipeline().remove(this); // hands what it holds to the handlers just added
        }
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
    }
}
