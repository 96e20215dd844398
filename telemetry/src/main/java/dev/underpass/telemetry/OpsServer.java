package dev.underpass.telemetry;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ops port: plain HTTP/1.1 for Prometheus scrapers and kubelet probes, which speak neither
 * our TLS nor our API keys. {@code GET}/{@code HEAD} of {@code /metrics} (Prometheus text, or
 * OpenMetrics when the scraper asks for it), {@code /healthz} (200 {@code ok} while the process
 * runs) and {@code /readyz} (200 when every {@link Probe} passes, 503 naming the ones that do
 * not); 404 elsewhere, 405 for other methods.
 *
 * <p>It runs on its own one-thread event loop so that it answers even while the data path's
 * loops are saturated: a probe that times out under load would get a busy process restarted.
 * That loop uses NIO like the rest of Underpass (docs/adr/0003-nio-transport.md); it is its own
 * group, so it does not follow {@code Transport}. Requests are small and bounded (8 KiB of
 * headers, no body), served one at a time per connection, and idle connections close after 60 s.
 */
public final class OpsServer implements AutoCloseable {
    /** Logs the start line that tests and operators look for; requests are logged at DEBUG only. */
    static final Logger log = LoggerFactory.getLogger("underpass.ops");

    static final int MAX_INITIAL_LINE_BYTES = 4096;
    static final int MAX_HEADER_BYTES = 8 * 1024;
    static final Duration IDLE = Duration.ofSeconds(60);

    private final EventLoopGroup group;
    private final Channel server;
    private final InetSocketAddress address;

    private OpsServer(EventLoopGroup group, Channel server) {
        this.group = group;
        this.server = server;
        this.address = (InetSocketAddress) server.localAddress();
    }

    /**
     * Binds {@code listen} (port 0 picks a free port, see {@link #address()}) and serves
     * {@code registry} and {@code readiness}, which are evaluated in order on every
     * {@code /readyz}.
     *
     * @throws IOException if the address cannot be bound (in use, not local)
     */
    public static OpsServer start(InetSocketAddress listen, PrometheusMeterRegistry registry, List<Probe> readiness)
            throws IOException {
        return start(listen, registry, readiness, IDLE);
    }

    static OpsServer start(
            InetSocketAddress listen, PrometheusMeterRegistry registry, List<Probe> readiness, Duration idle)
            throws IOException {
        Objects.requireNonNull(listen, "listen");
        Objects.requireNonNull(registry, "registry");
        List<Probe> probes = List.copyOf(readiness);
        Set<String> names = new HashSet<>();
        for (Probe probe : probes) {
            if (!names.add(probe.name())) {
                throw new IllegalArgumentException("readiness probe " + probe.name() + " is listed twice");
            }
        }
        long idleMillis = idle.toMillis();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(
                1, new DefaultThreadFactory("underpass-ops", true), NioIoHandler.newFactory());
        ChannelFuture bound = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // One request at a time: the handler asks for the next one after answering
                        // (the decoders ask for more of a request that is incomplete).
                        ch.config().setAutoRead(false);
                        ch.pipeline().addLast("idle", new IdleStateHandler(0, 0, idleMillis, TimeUnit.MILLISECONDS));
                        ch.pipeline()
                                .addLast("http", new HttpServerCodec(MAX_INITIAL_LINE_BYTES, MAX_HEADER_BYTES, 8192));
                        ch.pipeline().addLast("body", new NoBodyAggregator());
                        ch.pipeline().addLast("ops", new OpsHandler(registry, probes));
                    }
                })
                .bind(listen)
                .awaitUninterruptibly();
        if (!bound.isSuccess()) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            Throwable cause = bound.cause();
            if (cause instanceof IOException io) {
                throw io;
            }
            throw new IOException("ops server cannot listen on " + listen + ": " + cause, cause);
        }
        OpsServer ops = new OpsServer(group, bound.channel());
        log.info("ops server listening on {} (/metrics, /healthz, /readyz)", hostAndPort(ops.address));
        return ops;
    }

    /** The bound address, with the actual port when 0 was asked for. */
    public InetSocketAddress address() {
        return address;
    }

    /** Stops listening, closes open connections and ends the event loop thread. */
    @Override
    public void close() {
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** {@code 127.0.0.1:9090} or {@code [::1]:9090}: the form operators paste and the tests parse. */
    static String hostAndPort(InetSocketAddress address) {
        String host = address.getAddress() != null ? address.getAddress().getHostAddress() : address.getHostString();
        if (address.getAddress() instanceof Inet6Address) {
            host = "[" + host + "]";
        }
        return host + ":" + address.getPort();
    }
}
