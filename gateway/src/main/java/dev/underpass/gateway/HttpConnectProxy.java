package dev.underpass.gateway;

import dev.underpass.controlplane.Principal;
import dev.underpass.protocol.HostAndPort;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.ReadTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * The HTTP side of the forward proxy: {@code CONNECT host:port} with the key in
 * {@code Proxy-Authorization}. Refusals are plain-text HTTP answers with the reason (407 without
 * or with a bad key, 403 for a name that is not an available endpoint of the caller's account),
 * after which the connection closes.
 */
final class HttpConnectProxy extends SimpleChannelInboundHandler<HttpObject> {
    private static final byte[] ESTABLISHED = "HTTP/1.1 200 Connection established\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private final ProxyAuth auth;
    private final ConsumerRoutes routes;
    private boolean handled;

    HttpConnectProxy(ProxyAuth auth, ConsumerRoutes routes) {
        this.auth = auth;
        this.routes = routes;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
        if (handled || !(msg instanceof HttpRequest request)) {
            return; // one request per connection; a body or anything after it is dropped
        }
        handled = true;
        ctx.channel().config().setAutoRead(false);
        Object from = ctx.channel().remoteAddress();
        if (request.decoderResult().isFailure()) {
            Throwable cause = request.decoderResult().cause();
            int status = cause instanceof TooLongHttpLineException ? 414 : cause instanceof TooLongHttpHeaderException ? 431 : 400;
            refuse(ctx, status, "malformed proxy request: " + cause.getMessage(), from, "-");
            return;
        }
        if (!HttpMethod.CONNECT.equals(request.method())) {
            refuse(ctx, 501, "this proxy carries CONNECT requests (use an https:// URL, or curl -p); "
                    + request.method() + " is not supported", from, "-");
            return;
        }
        HostAndPort destination;
        try {
            destination = HostAndPort.parseDialable(request.uri());
        } catch (RuntimeException e) {
            refuse(ctx, 400, "CONNECT " + request.uri() + " (expected: host:port)", from, "-");
            return;
        }
        String key = ProxyAuth.basicKey(request.headers().get(HttpHeaderNames.PROXY_AUTHORIZATION));
        if (key == null) {
            refuse(ctx, 407, "no API key (expected: Proxy-Authorization: Basic with an API key of your account as the "
                    + "password, e.g. https_proxy=https://user:KEY@gateway:port)", from, destination.toString());
            return;
        }
        auth.check(ctx.channel(), key, (principal, refusal) -> {
            if (principal == null) {
                refuse(ctx, 407, refusal, from, destination.toString());
            } else {
                connect(ctx, principal, destination, from);
            }
        });
    }

    private void connect(ChannelHandlerContext ctx, Principal p, HostAndPort destination, Object from) {
        EndpointListeners.Listener listener = routes.find(p.account(), destination.host(), destination.port());
        if (listener == null) {
            refuse(ctx, 403, destination + " is not an available endpoint of account " + p.account()
                    + " (expected: a DNS name and port from 'underpass endpoint show')", from, destination + " account=" + p.account());
            return;
        }
        ForwardProxy.log.info("CONNECT {} from {} account={} key={} -> endpoint {} port {}", destination, from, p.account(),
                p.keyId(), listener.route().endpoint(), listener.route().servicePort());
        ctx.pipeline().remove("http");
        ctx.writeAndFlush(Unpooled.wrappedBuffer(ESTABLISHED)).addListener(f -> {
            if (f.isSuccess()) {
                ForwardProxy.tunnel(ctx.channel(), listener, "connect");
            } else {
                ctx.close();
            }
        });
    }

    private static void refuse(ChannelHandlerContext ctx, int status, String reason, Object from, String destination) {
        ForwardProxy.log.info("proxy request from {} for {} refused: {} {}", from, destination, status, reason);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                Unpooled.copiedBuffer(reason + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (status == 407) {
            r.headers().set(HttpHeaderNames.PROXY_AUTHENTICATE, "Basic realm=\"underpass\"");
        }
        HttpUtil.setContentLength(r, r.content().readableBytes());
        ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof ReadTimeoutException)) {
            ForwardProxy.log.info("proxy connection from {} closed: {}", ctx.channel().remoteAddress(), cause.toString());
        } else {
            ForwardProxy.log.info("proxy connection from {} closed: no request within {}s", ctx.channel().remoteAddress(),
                    ForwardProxy.HANDSHAKE_SECONDS);
        }
        ctx.close();
    }
}
