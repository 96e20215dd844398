package dev.underpass.agent.link;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.protocol.HostAndPort;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.IdleStateHandler;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The pipeline of one link: the egress proxy if any, TLS with the gateway verified, the
 * heartbeat timeout, then ALPN ({@link Alpn}), which goes on to HTTP/2 and the session.
 */
final class LinkInitializer extends ChannelInitializer<SocketChannel> {
    private final String bearer;
    private final SslContext ssl;
    private final HostAndPort gateway;
    private final AgentConfig.ProxySettings proxy;
    private final Duration heartbeatTimeout;
    private final Consumer<Channel> openSession;

    /** {@code bearer}: what this link's session request presents (null for a client certificate); {@code proxy} may be null. */
    LinkInitializer(
            String bearer,
            SslContext ssl,
            HostAndPort gateway,
            AgentConfig.ProxySettings proxy,
            Duration heartbeatTimeout,
            Consumer<Channel> openSession) {
        this.bearer = bearer;
        this.ssl = ssl;
        this.gateway = gateway;
        this.proxy = proxy;
        this.heartbeatTimeout = heartbeatTimeout;
        this.openSession = openSession;
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        LinkState.attach(ch, bearer);
        if (proxy != null) {
            ch.pipeline().addLast("proxy", EgressProxy.handler(proxy));
        }
        ch.pipeline().addLast("tls", ssl.newHandler(ch.alloc(), gateway.host(), gateway.port()));
        ch.pipeline()
                .addLast("heartbeat", new IdleStateHandler(heartbeatTimeout.toMillis(), 0, 0, TimeUnit.MILLISECONDS));
        ch.pipeline().addLast("alpn", new Alpn(heartbeatTimeout, openSession));
    }
}
