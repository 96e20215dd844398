package dev.underpass.gateway.consumer;

import dev.underpass.telemetry.RepeatedEvents;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;

/**
 * One TLS port for every endpoint's TLS service port: each connection goes to the endpoint its
 * ClientHello names (generated or verified private name), with TLS left to the two ends.
 */
public final class SniListener implements AutoCloseable {
    private final ConsumerRoutes routes;
    private final RepeatedEvents refusals;
    private Channel server;

    public SniListener(ConsumerRoutes routes, RepeatedEvents refusals) {
        this.routes = routes;
        this.refusals = refusals;
    }

    public InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws InterruptedException {
        server = ConsumerPort.bind(
                group, address, ConsumerPort.HANDSHAKE_SECONDS, refusals, "sni", () -> new SniRouter(routes, refusals));
        return (InetSocketAddress) server.localAddress();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
    }
}
