package dev.underpass.gateway.consumer.proxy;

import dev.underpass.controlplane.api.ProblemMapper;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.gateway.consumer.ConsumerLimit;
import dev.underpass.gateway.consumer.ConsumerPort;
import dev.underpass.gateway.consumer.ConsumerRoutes;
import dev.underpass.gateway.consumer.EndpointPorts;
import dev.underpass.gateway.consumer.ReplayFirst;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The HTTP side of the forward proxy, with the key in {@code Proxy-Authorization}:
 * {@code CONNECT host:port} (https URLs, or any TCP with {@code curl -p}), and absolute-form
 * requests ({@code GET http://host/path}), which go to the endpoint rewritten to origin form,
 * one request per connection. Refusals are plain-text HTTP answers with the reason (407 without
 * or with a bad key, 429 with {@code Retry-After} after too many bad keys from the client's
 * address or with the key's prefix, 403 for a name that is not an available endpoint of the
 * caller's account or a key without scope {@code endpoints:connect}, 505 for an HTTP version other
 * than 1.x, 431 for a head over 8 KiB), after which the connection closes.
 */
public final class HttpConnectProxy extends ChannelInboundHandlerAdapter {
    private static final byte[] ESTABLISHED =
            "HTTP/1.1 200 Connection established\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private final ProxyChecks checks;
    private final ConsumerRoutes routes;
    private final Egress egress;
    private final RepeatedEvents refusals;
    private boolean handled;
    private boolean absoluteForm;
    /**
     * What goes to the destination first: for an absolute-form request its head in origin form,
     * then (for both kinds) the raw bytes the client sent after the head.
     */
    private final List<Object> forward = new ArrayList<>();

    HttpConnectProxy(ProxyChecks checks, ConsumerRoutes routes, Egress egress, RepeatedEvents refusals) {
        this.refusals = refusals;
        this.checks = checks;
        this.routes = routes;
        this.egress = egress;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (handled) {
            if (msg instanceof ByteBuf) {
                forward.add(msg); // a body, or bytes sent right after CONNECT: they go to the destination
            } else {
                ReferenceCountUtil.release(msg);
            }
            return;
        }
        if (!(msg instanceof HttpRequest request)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        handled = true;
        ctx.channel().config().setAutoRead(false);
        // From here on the bytes stay as the client sent them (a chunked body keeps its framing):
        // the decoder leaves, handing what it had not decoded to this handler; answers still need encoding.
        ctx.pipeline().replace("http", "http", new HttpResponseEncoder());
        Object from = ctx.channel().remoteAddress();
        if (request.decoderResult().isFailure()) {
            Throwable cause = request.decoderResult().cause();
            int status = cause instanceof TooLongHttpLineException
                    ? 414
                    : cause instanceof TooLongHttpHeaderException ? 431 : 400;
            refuse(
                    ctx,
                    status,
                    "malformed proxy request: " + cause.getMessage() + " (expected: CONNECT host:port HTTP/1.1, "
                            + "or a request for an absolute http:// URL, with headers under "
                            + ForwardProxy.MAX_HEADER_BYTES + " bytes)",
                    from,
                    "-");
            return;
        }
        if (request.protocolVersion().majorVersion() != 1) {
            refuse(
                    ctx,
                    505,
                    "HTTP version " + request.protocolVersion().text() + " (expected: HTTP/1.1 or HTTP/1.0)",
                    from,
                    "-");
            return;
        }
        int head = headBytes(request);
        if (head > ForwardProxy.MAX_HEADER_BYTES) {
            refuse(
                    ctx,
                    431,
                    "a request head of " + head + " bytes (expected: at most " + ForwardProxy.MAX_HEADER_BYTES
                            + " bytes of request line and headers)",
                    from,
                    "-");
            return;
        }
        HostAndPort destination;
        if (HttpMethod.CONNECT.equals(request.method())) {
            try {
                destination = HostAndPort.parseDialable(request.uri());
            } catch (RuntimeException e) {
                refuse(ctx, 400, "CONNECT " + request.uri() + " (expected: host:port)", from, "-");
                return;
            }
        } else {
            destination = absoluteForm(request);
            if (destination == null) {
                refuse(
                        ctx,
                        400,
                        request.method() + " " + request.uri() + " (expected: CONNECT host:port, or an "
                                + "absolute http:// URL as proxies receive them)",
                        from,
                        "-");
                return;
            }
        }
        String key = ProxyChecks.basicKey(request.headers().get(HttpHeaderNames.PROXY_AUTHORIZATION));
        if (key == null) {
            // The first step of HTTP authentication: clients such as git send their credentials only after this
            // challenge, so it is no refusal worth a line at INFO.
            GatewayLog.PROXY.debug("proxy request from {} for {}: 407, asked for credentials", from, destination);
            answer(
                    ctx,
                    407,
                    "no API key (expected: Proxy-Authorization: Basic with an API key of your account as the "
                            + "password, e.g. http_proxy=http://user:KEY@gateway:port)",
                    Map.of());
            return;
        }
        checks.check(ctx.channel(), key, "HTTP proxy", (principal, refusal) -> {
            if (principal != null) {
                connect(ctx, principal, destination, request.method(), from);
            } else if (ProblemMapper.status(refusal) == 429) {
                // Too many failed attempts: AuthFailures logs these, sparingly, so that they cannot flood the log.
                answer(ctx, 429, refusal.getMessage(), ProblemMapper.headers(refusal));
            } else { // 403: a valid key without scope endpoints:connect; a refused key (401) is a 407 to a proxy client
                refuse(
                        ctx,
                        ProblemMapper.status(refusal) == 403 ? 403 : 407,
                        refusal.getMessage(),
                        from,
                        destination.toString());
            }
        });
    }

    /**
     * The size of a request head as sent: its line and every header with their line ends. The
     * decoder's own limit counts header text without line ends, so many short headers could pass
     * it (issue 12: 10 KB accepted under a documented 8 KiB).
     */
    private static int headBytes(HttpRequest request) {
        int n = request.method().name().length()
                + 1
                + request.uri().length()
                + 1
                + request.protocolVersion().text().length()
                + 2;
        for (Map.Entry<String, String> h : request.headers()) {
            n += h.getKey().length() + 2 + h.getValue().length() + 2;
        }
        return n + 2;
    }

    /** Where an absolute-form request goes; its head is kept in origin form to send there. Null if it is not one. */
    private HostAndPort absoluteForm(HttpRequest request) {
        URI uri;
        try {
            uri = new URI(request.uri());
        } catch (URISyntaxException e) {
            return null;
        }
        if (!"http".equalsIgnoreCase(uri.getScheme()) || uri.getHost() == null || uri.getPort() > 65535) {
            return null; // answered 400, like any request that is no absolute http:// URL
        }
        String path = (uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath())
                + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        HttpRequest origin = new DefaultHttpRequest(request.protocolVersion(), request.method(), path);
        origin.headers().set(request.headers());
        origin.headers().remove(HttpHeaderNames.PROXY_AUTHORIZATION);
        origin.headers().remove("proxy-connection");
        origin.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (!origin.headers().contains(HttpHeaderNames.HOST)) {
            origin.headers()
                    .set(HttpHeaderNames.HOST, uri.getPort() < 0 ? uri.getHost() : uri.getHost() + ":" + uri.getPort());
        }
        forward.add(0, origin);
        absoluteForm = true;
        String host = uri.getHost().startsWith("[")
                ? uri.getHost().substring(1, uri.getHost().length() - 1)
                : uri.getHost();
        return new HostAndPort(host, uri.getPort() < 0 ? 80 : uri.getPort());
    }

    private void connect(
            ChannelHandlerContext ctx, Principal p, HostAndPort destination, HttpMethod method, Object from) {
        if (!checks.limit()
                .admit(ctx.channel(), p.account(), ConsumerLimit.Entrance.PROXY)) { // logged by the limit, sparingly
            checks.events().proxyRefused(ctx.channel(), destination.toString(), "limit");
            answer(ctx, 429, checks.limit().reason(p.account()), Map.of("retry-after", "1"));
            return;
        }
        EndpointPorts.BoundPort listener = routes.find(p.account(), destination.host(), destination.port());
        if (listener == null && egress.policy().allows(destination.host(), destination.port())) {
            direct(ctx, p, destination, method, from);
            return;
        }
        if (listener == null) {
            checks.whyNot(
                    ctx.channel(),
                    p.account(),
                    destination.host(),
                    destination.port(),
                    reason -> refuse(ctx, 403, reason, from, destination + " account=" + p.account()));
            return;
        }
        GatewayLog.PROXY.info(
                "{} {} from {} account={} key={} -> endpoint {} port {}",
                method,
                destination,
                from,
                p.account(),
                p.keyId(),
                listener.route().endpoint(),
                listener.route().servicePort());
        ctx.pipeline().remove("http");
        if (!absoluteForm) {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(ESTABLISHED)).addListener(f -> {
                if (f.isSuccess()) {
                    ctx.pipeline().addFirst("replay", new ReplayFirst(encodeForward(ctx)));
                    ConsumerPort.endHandshake(ctx.channel(), "connect");
                    listener.adopt(ctx.channel());
                } else {
                    ctx.close();
                }
            });
            return;
        }
        ctx.pipeline().addFirst("replay", new ReplayFirst(encodeForward(ctx)));
        ConsumerPort.endHandshake(ctx.channel(), "connect");
        listener.adopt(ctx.channel());
    }

    /** Out to the public destination itself, as the operator's egress policy allows. */
    private void direct(
            ChannelHandlerContext ctx, Principal p, HostAndPort destination, HttpMethod method, Object from) {
        DirectEgress.dial(
                ctx.channel(),
                destination,
                egress,
                out -> {
                    if (!ctx.channel().isActive()) { // the client left while the gateway dialled
                        out.close();
                        return;
                    }
                    GatewayLog.PROXY.info(
                            "{} {} from {} account={} key={} -> direct egress (allowed by egressAllow)",
                            method,
                            destination,
                            from,
                            p.account(),
                            p.keyId());
                    ctx.pipeline().remove("http");
                    if (!absoluteForm) {
                        ctx.writeAndFlush(Unpooled.wrappedBuffer(ESTABLISHED)).addListener(f -> {
                            if (!f.isSuccess()) {
                                out.close();
                                ctx.close();
                                return;
                            }
                            ByteBuf first = encodeForward(ctx);
                            ConsumerPort.endHandshake(ctx.channel(), "connect");
                            DirectEgress.relay(
                                    ctx.channel(),
                                    out,
                                    first,
                                    (toDestination, toClient, millis) -> checks.events()
                                            .egressEnded(
                                                    ctx.channel(),
                                                    destination.toString(),
                                                    toDestination,
                                                    toClient,
                                                    millis));
                        });
                    } else {
                        ByteBuf first = encodeForward(ctx);
                        ConsumerPort.endHandshake(ctx.channel(), "connect");
                        DirectEgress.relay(
                                ctx.channel(),
                                out,
                                first,
                                (toDestination, toClient, millis) -> checks.events()
                                        .egressEnded(
                                                ctx.channel(),
                                                destination.toString(),
                                                toDestination,
                                                toClient,
                                                millis));
                    }
                },
                reason ->
                        refuse(ctx, 502, "cannot reach " + destination + ": " + reason, from, destination.toString()));
    }

    /** What goes to the destination first, as bytes: an absolute-form head encoded again, then the raw rest. */
    private ByteBuf encodeForward(ChannelHandlerContext ctx) {
        EmbeddedChannel encoder = new EmbeddedChannel(new HttpRequestEncoder());
        CompositeByteBuf bytes = ctx.alloc().compositeBuffer();
        for (Object part : forward) {
            if (part instanceof ByteBuf raw) {
                encoder.flushOutbound();
                drain(encoder, bytes);
                bytes.addComponent(true, raw);
            } else {
                encoder.writeOutbound(part);
                drain(encoder, bytes);
            }
        }
        forward.clear();
        encoder.finishAndReleaseAll();
        return bytes;
    }

    private static void drain(EmbeddedChannel encoder, CompositeByteBuf into) {
        for (ByteBuf b; (b = encoder.readOutbound()) != null; ) {
            into.addComponent(true, b);
        }
    }

    private void refuse(ChannelHandlerContext ctx, int status, String reason, Object from, String destination) {
        refusals.info(
                RepeatedEvents.source((java.net.SocketAddress) from) + " " + status,
                "proxy request from {} for {} refused: {} {}",
                from,
                destination,
                status,
                reason);
        answer(ctx, status, reason, Map.of());
    }

    /** Answers with {@code status} and the reason as text, then closes the connection. */
    private void answer(ChannelHandlerContext ctx, int status, String reason, Map<String, String> headers) {
        forward.forEach(ReferenceCountUtil::release);
        forward.clear();
        FullHttpResponse r = new DefaultFullHttpResponse(
                HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(status),
                Unpooled.copiedBuffer(reason + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (status == 407) {
            r.headers().set(HttpHeaderNames.PROXY_AUTHENTICATE, "Basic realm=\"underpass\"");
        }
        headers.forEach(r.headers()::set);
        HttpUtil.setContentLength(r, r.content().readableBytes());
        ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        forward.forEach(ReferenceCountUtil::release);
        forward.clear();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        refusals.info(
                RepeatedEvents.source(ctx.channel().remoteAddress()),
                "proxy connection from {} closed: {}",
                ctx.channel().remoteAddress(),
                cause.toString());
        ctx.close();
    }
}
