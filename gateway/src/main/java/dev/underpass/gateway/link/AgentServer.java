package dev.underpass.gateway.link;

import dev.underpass.protocol.Causes;
import dev.underpass.protocol.LinkSettings;
import dev.underpass.protocol.Transport;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's agent port: TLS 1.3, ALPN h2, then one HTTP/2 connection per agent link. Each
 * link's first stream is its session; later streams carry tunnelled connections.
 */
public final class AgentServer {
    private final SslContext ssl;
    private final AgentStreams streams;
    private final long heartbeatTimeoutMillis;
    private final long maxStreams;
    private Channel server;

    /** {@code maxStreams}: the concurrent streams one agent link may open (SETTINGS_MAX_CONCURRENT_STREAMS). */
    public AgentServer(SslContext ssl, AgentStreams streams, long heartbeatTimeoutMillis, long maxStreams) {
        this.maxStreams = maxStreams;
        this.ssl = ssl;
        this.streams = streams;
        this.heartbeatTimeoutMillis = heartbeatTimeoutMillis;
    }

    public InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws InterruptedException {
        server = new ServerBootstrap()
                .group(group)
                .channel(Transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast("tls", ssl.newHandler(ch.alloc()));
                        ch.pipeline()
                                .addLast(
                                        "heartbeat",
                                        new IdleStateHandler(heartbeatTimeoutMillis, 0, 0, TimeUnit.MILLISECONDS));
                        ch.pipeline().addLast("alpn", new Alpn());
                    }
                })
                .bind(address)
                .sync()
                .channel();
        return (InetSocketAddress) server.localAddress();
    }

    public AgentStreams streams() {
        return streams;
    }

    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
    }

    /**
     * Why a handshake failed, for the operator: an alert from the agent means the agent refused the
     * gateway's certificate, and the agent's own log has the detail (issue 12: the gateway said only
     * TLSV1_ALERT_INTERNAL_ERROR while the agent's name check failed).
     */
    static String whyHandshakeFailed(Throwable cause) {
        String root = Causes.root(cause);
        String upper = root.toUpperCase(java.util.Locale.ROOT);
        for (String alert : List.of(
                "INTERNAL_ERROR",
                "BAD_CERTIFICATE",
                "CERTIFICATE_UNKNOWN",
                "UNKNOWN_CA",
                "CERTIFICATE_EXPIRED",
                "ACCESS_DENIED",
                "DECRYPT_ERROR")) {
            if (upper.contains("ALERT_" + alert) || upper.contains("ALERT " + alert)) {
                return "the agent refused the gateway's certificate (TLS alert "
                        + alert.toLowerCase(java.util.Locale.ROOT)
                        + "); the agent's log says why: most often it dials a name or address the certificate does not "
                        + "cover (add it to serverNames) or trusts another CA (--ca-file, --pin)";
            }
        }
        return root;
    }

    /** Installs HTTP/2 once TLS agreed on h2; anything else is refused with one log line. */
    private final class Alpn extends ApplicationProtocolNegotiationHandler {
        Alpn() {
            super("");
        }

        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
            if (!ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                streams.refusals()
                        .warn(
                                RepeatedEvents.source(ctx.channel().remoteAddress()),
                                "agent link from {} refused: TLS ALPN protocol '{}' (expected: h2)",
                                ctx.channel().remoteAddress(),
                                protocol);
                ctx.close();
                return;
            }
            ctx.pipeline().addLast("h2", LinkSettings.serverCodec(maxStreams));
            ctx.pipeline().addLast("streams", new Http2MultiplexHandler(streams.dispatcher()));
            ctx.pipeline().addLast("link", streams.linkHandler());
            ctx.channel()
                    .writeAndFlush(new DefaultHttp2WindowUpdateFrame(
                            LinkSettings.CONNECTION_WINDOW_BYTES - LinkSettings.DEFAULT_WINDOW_BYTES));
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            // The failure event comes first; the base class would only see the exception later.
            if (evt instanceof SslHandshakeCompletionEvent done && !done.isSuccess()) {
                streams.refusals()
                        .warn(
                                RepeatedEvents.source(ctx.channel().remoteAddress()),
                                "agent link from {} refused: TLS handshake failed: {}",
                                ctx.channel().remoteAddress(),
                                whyHandshakeFailed(done.cause()));
                ctx.close();
                return;
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // Before ALPN completes, errors are TLS errors (garbage bytes, wrong version), already
            // reported once by the handshake failure event: only close here.
            ctx.close();
        }
    }
}
