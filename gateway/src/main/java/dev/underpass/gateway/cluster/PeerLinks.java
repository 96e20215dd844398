package dev.underpass.gateway.cluster;

import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.LinkSettings;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * This node's HTTP/2 links to its peers' agent ports, one per peer, opened when first needed and
 * again after one ends: TLS 1.3 with this node's client certificate, the peer verified against
 * the gateway's CA, and a PING every heartbeat interval so that the peer's heartbeat timeout
 * never closes a quiet link. Relay streams are opened on them.
 */
final class PeerLinks implements AutoCloseable {
    private final SslContext tls;
    private final EventLoopGroup group;
    private final Duration ping;
    private final Duration connectTimeout;
    private final Map<String, Future<Channel>> links = new ConcurrentHashMap<>();
    /** Peers whose link could not be opened, until when (System.nanoTime): a lost node, until its heartbeat ages. */
    private final Map<String, Long> failedUntil = new ConcurrentHashMap<>();

    PeerLinks(SslContext tls, EventLoopGroup group, Duration ping, Duration connectTimeout) {
        this.tls = tls;
        this.group = group;
        this.ping = ping;
        this.connectTimeout = connectTimeout;
    }

    /** Whether {@code peer}'s link did not fail lately (it may be down: its heartbeat has not aged yet). */
    boolean usable(Peer peer) {
        Long until = failedUntil.get(peer.id());
        if (until == null) {
            return true;
        }
        if (until - System.nanoTime() > 0) {
            return false;
        }
        failedUntil.remove(peer.id(), until);
        return true;
    }

    /** The link to {@code peer}: the open one, one being opened, or a new one. */
    Future<Channel> link(Peer peer) {
        Future<Channel> f = links.get(peer.id());
        if (f != null && (!f.isDone() || (f.isSuccess() && f.getNow().isActive()))) {
            return f;
        }
        Promise<Channel> opened = group.next().newPromise();
        if (f == null ? links.putIfAbsent(peer.id(), opened) != null : !links.replace(peer.id(), f, opened)) {
            return link(peer); // another thread opened one meanwhile
        }
        connect(peer, opened);
        return opened;
    }

    private void connect(Peer peer, Promise<Channel> opened) {
        HostAndPort address = HostAndPort.parse(peer.agentAddress());
        new Bootstrap()
                .group(group)
                .channel(Transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis())
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast("tls", tls.newHandler(ch.alloc(), address.host(), address.port()));
                        // The peer answers every PING: three intervals without a frame is a peer gone
                        // silently (a partition), whose streams must fail rather than hang.
                        ch.pipeline()
                                .addLast(
                                        "idle", new IdleStateHandler(ping.toMillis() * 3, 0, 0, TimeUnit.MILLISECONDS));
                        ch.pipeline().addLast("silent", new CloseWhenSilent(peer));
                        ch.pipeline().addLast("alpn", new Alpn(peer, opened));
                    }
                })
                .connect(address.host(), address.port())
                .addListener((ChannelFutureListener) c -> {
                    if (!c.isSuccess()) {
                        failedUntil.put(peer.id(), System.nanoTime() + ping.toNanos() * 2);
                        opened.tryFailure(c.cause());
                        return;
                    }
                    c.channel().closeFuture().addListener(x -> {
                        opened.tryFailure(new java.io.IOException("link to node " + peer.id() + " closed"));
                        links.remove(peer.id(), opened);
                    });
                });
    }

    /** HTTP/2 once ALPN agreed on it; then the link is ready for relay streams. */
    private final class Alpn extends ApplicationProtocolNegotiationHandler {
        private final Peer peer;
        private final Promise<Channel> opened;

        Alpn(Peer peer, Promise<Channel> opened) {
            super("");
            this.peer = peer;
            this.opened = opened;
        }

        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
            Channel ch = ctx.channel();
            if (!ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                opened.tryFailure(new java.io.IOException("node " + peer.id() + " did not agree to HTTP/2"));
                ctx.close();
                return;
            }
            ch.pipeline().addLast("h2", LinkSettings.clientCodec());
            ch.pipeline().addLast("streams", new Http2MultiplexHandler(new RefuseInbound()));
            ch.writeAndFlush(new DefaultHttp2WindowUpdateFrame(
                    LinkSettings.CONNECTION_WINDOW_BYTES - LinkSettings.DEFAULT_WINDOW_BYTES));
            var heartbeat = ch.eventLoop()
                    .scheduleAtFixedRate(
                            () -> ch.writeAndFlush(new DefaultHttp2PingFrame(System.nanoTime())),
                            ping.toMillis(),
                            ping.toMillis(),
                            TimeUnit.MILLISECONDS);
            ch.closeFuture().addListener(f -> {
                heartbeat.cancel(false);
                GatewayLog.SESSIONS.info("link to node {} ({}) closed", peer.id(), peer.agentAddress());
            });
            GatewayLog.SESSIONS.info("link to node {} ({}) open", peer.id(), peer.agentAddress());
            opened.trySuccess(ch);
        }

        @Override
        protected void handshakeFailure(ChannelHandlerContext ctx, Throwable cause) {
            opened.tryFailure(cause);
            ctx.close();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            opened.tryFailure(cause);
            GatewayLog.SESSIONS.warn("link to node {}: {}", peer.id(), Causes.root(cause));
            ctx.close();
        }
    }

    /** Closes a link on which the peer sent nothing for three PING intervals. */
    private static final class CloseWhenSilent extends ChannelInboundHandlerAdapter {
        private final Peer peer;

        CloseWhenSilent(Peer peer) {
            this.peer = peer;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                GatewayLog.SESSIONS.warn(
                        "link to node {}: nothing received for three PING intervals, closing", peer.id());
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }
    }

    /** A peer opens no stream on this node's link to it. */
    private static final class RefuseInbound extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRegistered(ChannelHandlerContext ctx) {
            ((Http2StreamChannel) ctx.channel()).close();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void close() {
        for (Future<Channel> f : links.values()) {
            if (f.isSuccess()) {
                f.getNow().close();
            }
        }
        links.clear();
    }
}
