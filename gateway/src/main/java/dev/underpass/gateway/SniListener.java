package dev.underpass.gateway;

import dev.underpass.protocol.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;

/**
 * One TLS port for every endpoint's TLS service port: each connection goes to the endpoint its
 * ClientHello names (generated or verified private name), with TLS left to the two ends.
 */
final class SniListener implements AutoCloseable {
    private final ConsumerRoutes routes;
    private Channel server;

    SniListener(ConsumerRoutes routes) {
        this.routes = routes;
    }

    InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws InterruptedException {
        server = new ServerBootstrap()
                .group(group)
                .channel(Transport.serverChannel())
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(HandshakeDeadline.NAME, new HandshakeDeadline(ForwardProxy.HANDSHAKE_SECONDS));
                        ch.pipeline().addLast("sni", new SniRouter(routes));
                    }
                })
                .bind(address).sync().channel();
        return (InetSocketAddress) server.localAddress();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
    }
}
