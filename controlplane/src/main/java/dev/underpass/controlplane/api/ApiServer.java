package dev.underpass.controlplane.api;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.protocol.Transport;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's HTTPS API: HTTP/1.1 over TLS 1.3 on Netty. Requests are parsed on the event
 * loop and run on virtual threads, since operations wait on the store. Each connection has
 * deadlines ({@link Timeouts}), so that slow clients cannot hold connections open.
 */
public final class ApiServer implements AutoCloseable {
    /** The largest request body accepted; larger ones get 413. */
    static final int MAX_BODY_BYTES = 1 << 20;

    static final int MAX_HEADER_BYTES = 16 * 1024;

    /**
     * How long a connection has for its TLS handshake, for each request from its first byte to
     * its last, and between requests before it is closed as idle.
     */
    record Timeouts(Duration handshake, Duration request, Duration idle) {
        static final Timeouts DEFAULTS =
                new Timeouts(Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(60));
    }

    private final Router router;
    private final ConsoleFront console;
    private final ControlPlane controlPlane;
    private final SslContext ssl;
    private final Timeouts timeouts;
    private final ExecutorService operations = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("underpass-api-", 0).factory());
    private Channel server;

    public ApiServer(ControlPlane controlPlane, SslContext ssl) {
        this(controlPlane, ssl, Timeouts.DEFAULTS);
    }

    /** With other deadlines: tests shorten them. */
    ApiServer(ControlPlane controlPlane, SslContext ssl, Timeouts timeouts) {
        this.controlPlane = controlPlane;
        this.router = Routes.of(controlPlane);
        this.console = new ConsoleFront(controlPlane.consoleSessions());
        this.ssl = ssl;
        this.timeouts = timeouts;
    }

    public InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws InterruptedException {
        // Refusals of clients that did not authenticate, and connections closed by a deadline: one line per
        // source, kind and interval, since such clients come in floods.
        RepeatedEvents refusals = new RepeatedEvents(
                ApiHandler.log, RepeatedEvents.DEFAULT_INTERVAL, RepeatedEvents.DEFAULT_MAX_KEYS, group);
        server = new ServerBootstrap()
                .group(group)
                .channel(Transport.serverChannel())
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ConnectionDeadlines deadlines = new ConnectionDeadlines(timeouts, refusals);
                        SslHandler tls = ssl.newHandler(ch.alloc());
                        tls.setHandshakeTimeoutMillis(0); // the deadlines' own, which logs what it closes
                        ch.pipeline().addLast("tls", tls);
                        ch.pipeline().addLast("deadline", deadlines.bytes());
                        // Netty's own bound on pipelined requests closes the connection unanswered; ApiHandler's
                        // answers.
                        ch.pipeline()
                                .addLast(
                                        "http",
                                        new HttpServerCodec(
                                                new HttpDecoderConfig()
                                                        .setMaxInitialLineLength(4096)
                                                        .setMaxHeaderSize(MAX_HEADER_BYTES)
                                                        .setMaxChunkSize(8192),
                                                Integer.MAX_VALUE));
                        ch.pipeline().addLast("request-end", deadlines.requests());
                        ch.pipeline().addLast("body", new BodyAggregator());
                        ch.pipeline()
                                .addLast(
                                        "api",
                                        new ApiHandler(
                                                router,
                                                controlPlane.apiKeys(),
                                                controlPlane.oidcLogins(),
                                                console,
                                                operations,
                                                refusals));
                    }
                })
                .bind(address)
                .sync()
                .channel();
        return (InetSocketAddress) server.localAddress();
    }

    /** Collects a request's body; one too large is answered with a problem, and its remaining bytes are dropped. */
    private static final class BodyAggregator extends HttpObjectAggregator {
        BodyAggregator() {
            super(MAX_BODY_BYTES);
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
            String uri = oversized instanceof HttpRequest r ? new QueryStringDecoder(r.uri()).path() : "";
            ApiHandler.log.info(
                    "request to {} from {} refused: body over {} bytes",
                    uri,
                    ctx.channel().remoteAddress(),
                    MAX_BODY_BYTES);
            FullHttpResponse problem = ApiHandler.problem(
                    413,
                    "the request body is larger than " + MAX_BODY_BYTES
                            + " bytes (expected: a JSON document of at most 1 MiB)",
                    uri,
                    List.of());
            HttpUtil.setContentLength(problem, problem.content().readableBytes());
            if (!(oversized instanceof FullHttpMessage) && HttpUtil.isKeepAlive(oversized)) {
                // The client is still sending the body: closing now would reset the connection and lose this
                // answer, so (as HttpObjectAggregator does) the rest of the body is read and dropped instead.
                problem.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(problem).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
                return;
            }
            problem.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(problem).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        operations.shutdown();
        try {
            operations.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
