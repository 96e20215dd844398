package dev.underpass.gateway.consumer;

import dev.underpass.protocol.Transport;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.function.Supplier;

/**
 * A port where consumers open connections that become tunnels after a handshake (the forward
 * proxy, the TLS listener): each connection gets a handshake deadline, then {@code handshake}.
 */
public final class ConsumerPort {
    /** How long a client may take to authenticate and name its destination. */
    public static final int HANDSHAKE_SECONDS = 30;

    private ConsumerPort() {}

    /**
     * Ends the handshake: removes its handlers (those of {@code handlers} still there) and its
     * deadline. The socket is then carried as a tunnel.
     */
    public static void endHandshake(Channel socket, String... handlers) {
        for (String h : handlers) {
            if (socket.pipeline().get(h) != null) {
                socket.pipeline().remove(h);
            }
        }
        if (socket.pipeline().get(HandshakeDeadline.NAME) != null) {
            socket.pipeline().remove(HandshakeDeadline.NAME);
        }
    }

    public static Channel bind(
            EventLoopGroup group,
            InetSocketAddress address,
            int handshakeSeconds,
            RepeatedEvents refusals,
            String name,
            Supplier<ChannelHandler> handshake)
            throws InterruptedException {
        return new ServerBootstrap()
                .group(group)
                .channel(Transport.serverChannel())
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline()
                                .addLast(HandshakeDeadline.NAME, new HandshakeDeadline(handshakeSeconds, refusals));
                        ch.pipeline().addLast(name, handshake.get());
                    }
                })
                .bind(address)
                .sync()
                .channel();
    }
}
