package dev.underpass.controlplane.api;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.ReadTimeoutHandler;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's HTTPS API: HTTP/1.1 over TLS 1.3 on Netty. Requests are parsed on the event
 * loop and run on virtual threads, since operations wait on the store.
 */
public final class ApiServer implements AutoCloseable {
    /** The largest request body accepted; larger ones get 413. */
    static final int MAX_BODY_BYTES = 1 << 20;
    static final int MAX_HEADER_BYTES = 16 * 1024;
    static final int IDLE_SECONDS = 60;

    private final Router router;
    private final ControlPlane controlPlane;
    private final SslContext ssl;
    private final ExecutorService operations = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("underpass-api-", 0).factory());
    private Channel server;

    public ApiServer(ControlPlane controlPlane, SslContext ssl) {
        this.controlPlane = controlPlane;
        this.router = Routes.of(controlPlane);
        this.ssl = ssl;
    }

    public InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws InterruptedException {
        server = new ServerBootstrap()
                .group(group)
                .channel(Transport.serverChannel())
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("tls", ssl.newHandler(ch.alloc()));
                        ch.pipeline().addLast("idle", new ReadTimeoutHandler(IDLE_SECONDS, TimeUnit.SECONDS));
                        ch.pipeline().addLast("http", new HttpServerCodec(4096, MAX_HEADER_BYTES, 8192));
                        ch.pipeline().addLast("body", new BodyAggregator());
                        ch.pipeline().addLast("api", new ApiHandler(router, controlPlane.apiKeys(), controlPlane.oidcLogins(),
                                operations));
                    }
                })
                .bind(address).sync().channel();
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
            ApiHandler.log.info("request to {} from {} refused: body over {} bytes", uri, ctx.channel().remoteAddress(),
                    MAX_BODY_BYTES);
            FullHttpResponse problem = ApiHandler.problem(413, "the request body is larger than " + MAX_BODY_BYTES
                    + " bytes (expected: a JSON document of at most 1 MiB)", uri, List.of());
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
