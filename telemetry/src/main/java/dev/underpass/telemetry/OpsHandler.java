package dev.underpass.telemetry;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Optional;

/**
 * Answers the requests of one ops connection one at a time, and reads the next one only once the
 * answer is written: the channel does not read on its own (see {@link OpsServer}), so a client
 * that pipelines without reading cannot pile up answers. Requests that one read already brought
 * wait here; too many of them close the connection.
 *
 * <p>Netty's {@code FlowControlHandler} would do the queueing, but in 4.2.18 it forgets a read
 * requested during a read cycle when that cycle completes, and the decoder's own reads for a
 * request split over several TCP reads do not count for it: such a request then waits forever.
 */
final class OpsHandler extends ChannelInboundHandlerAdapter {
    /** The writers' content types of prometheus-metrics-exposition-textformats; the registry picks its writer by them. */
    static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    static final String OPENMETRICS_TEXT = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    private static final String PLAIN = "text/plain; charset=utf-8";
    private static final String ALLOWED = "GET, HEAD";
    /** A problem longer than this is cut: /readyz is read by people and probes, not parsed. */
    private static final int MAX_PROBLEM_CHARS = 300;

    /** Pipelined requests held while one is answered; more than this is not a scraper or a probe. */
    static final int MAX_PENDING = 16;

    private final PrometheusMeterRegistry registry;
    private final List<Probe> probes;
    private final ArrayDeque<FullHttpRequest> pending = new ArrayDeque<>();
    private boolean answering;

    OpsHandler(PrometheusMeterRegistry registry, List<Probe> probes) {
        this.registry = registry;
        this.probes = probes;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.read();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest request)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (answering) {
            pending.add(request);
            if (pending.size() > MAX_PENDING) {
                OpsServer.log.debug(
                        "closing connection from {}: over {} pipelined requests",
                        ctx.channel().remoteAddress(),
                        MAX_PENDING);
                ctx.close();
            }
            return;
        }
        answering = true;
        try {
            answer(ctx, request);
        } finally {
            request.release();
        }
    }

    /** After an answer is written: the next pipelined request, or a read for one. */
    private void next(ChannelHandlerContext ctx) {
        answering = false;
        if (!ctx.channel().isActive()) {
            return;
        }
        FullHttpRequest request = pending.poll();
        if (request == null) {
            ctx.read();
        } else {
            channelRead(ctx, request);
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        FullHttpRequest request;
        while ((request = pending.poll()) != null) {
            request.release();
        }
    }

    private void answer(ChannelHandlerContext ctx, FullHttpRequest request) {
        if (request.decoderResult().isFailure()) {
            Throwable cause = request.decoderResult().cause();
            HttpResponseStatus status = cause instanceof TooLongHttpHeaderException
                    ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : cause instanceof TooLongHttpLineException
                            ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                            : HttpResponseStatus.BAD_REQUEST;
            OpsServer.log.debug("bad request from {}: {}", ctx.channel().remoteAddress(), cause.toString());
            // The decoder skips the rest of the connection's bytes after a bad request: close after answering.
            respond(
                    ctx,
                    HttpVersion.HTTP_1_1,
                    false,
                    false,
                    status,
                    PLAIN,
                    text(ctx, status.reasonPhrase() + "\n"),
                    null);
            return;
        }
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        boolean head = HttpMethod.HEAD.equals(request.method());
        HttpVersion version = request.protocolVersion();
        String uri = request.uri();
        int query = indexOfAny(uri, '?', '#');
        String path = query < 0 ? uri : uri.substring(0, query);
        OpsServer.log.debug(
                "{} {} from {}", request.method(), path, ctx.channel().remoteAddress());
        if (!path.equals("/metrics") && !path.equals("/healthz") && !path.equals("/readyz")) {
            respond(
                    ctx,
                    version,
                    head,
                    keepAlive,
                    HttpResponseStatus.NOT_FOUND,
                    PLAIN,
                    text(ctx, "not found (expected: /metrics, /healthz or /readyz)\n"),
                    null);
            return;
        }
        if (!head && !HttpMethod.GET.equals(request.method())) {
            respond(
                    ctx,
                    version,
                    false,
                    keepAlive,
                    HttpResponseStatus.METHOD_NOT_ALLOWED,
                    PLAIN,
                    text(ctx, "method not allowed (expected: GET or HEAD)\n"),
                    ALLOWED);
            return;
        }
        switch (path) {
            case "/healthz" ->
                respond(ctx, version, head, keepAlive, HttpResponseStatus.OK, PLAIN, text(ctx, "ok\n"), null);
            case "/readyz" -> readiness(ctx, version, head, keepAlive);
            default -> metrics(ctx, request, version, head, keepAlive);
        }
    }

    private void metrics(
            ChannelHandlerContext ctx, FullHttpRequest request, HttpVersion version, boolean head, boolean keepAlive) {
        // Prometheus asks for OpenMetrics in Accept; Prometheus's own client decides by this substring too.
        String accept = request.headers().get(HttpHeaderNames.ACCEPT, "");
        String contentType = accept.contains("application/openmetrics-text") ? OPENMETRICS_TEXT : PROMETHEUS_TEXT;
        ByteBuf body = ctx.alloc().buffer(16 * 1024);
        try (OutputStream out = new ByteBufOutputStream(body)) {
            registry.scrape(out, contentType);
        } catch (IOException | RuntimeException e) {
            body.release();
            OpsServer.log.warn("metrics scrape failed", e);
            respond(
                    ctx,
                    version,
                    head,
                    keepAlive,
                    HttpResponseStatus.INTERNAL_SERVER_ERROR,
                    PLAIN,
                    text(ctx, "scrape failed\n"),
                    null);
            return;
        }
        respond(ctx, version, head, keepAlive, HttpResponseStatus.OK, contentType, body, null);
    }

    private void readiness(ChannelHandlerContext ctx, HttpVersion version, boolean head, boolean keepAlive) {
        StringBuilder report = new StringBuilder();
        boolean ready = true;
        for (Probe probe : probes) {
            Optional<String> problem = probe.evaluate();
            report.append(probe.name());
            if (problem.isPresent()) {
                ready = false;
                report.append(": failed: ").append(oneLine(problem.get())).append('\n');
            } else {
                report.append(": ok\n");
            }
        }
        if (probes.isEmpty()) {
            report.append("ok\n");
        }
        if (!ready) {
            OpsServer.log.debug("not ready: {}", report);
        }
        respond(
                ctx,
                version,
                head,
                keepAlive,
                ready ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
                PLAIN,
                text(ctx, report.toString()),
                null);
    }

    private void respond(
            ChannelHandlerContext ctx,
            HttpVersion version,
            boolean head,
            boolean keepAlive,
            HttpResponseStatus status,
            String contentType,
            ByteBuf body,
            String allow) {
        int length = body.readableBytes();
        ByteBuf content = body;
        if (head) {
            // HEAD gets GET's headers, Content-Length included, and no body.
            body.release();
            content = Unpooled.EMPTY_BUFFER;
        }
        FullHttpResponse response = new DefaultFullHttpResponse(version, status, content);
        HttpHeaders headers = response.headers();
        headers.set(HttpHeaderNames.CONTENT_TYPE, contentType);
        headers.setInt(HttpHeaderNames.CONTENT_LENGTH, length);
        headers.set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        if (allow != null) {
            headers.set(HttpHeaderNames.ALLOW, allow);
        }
        HttpUtil.setKeepAlive(response, keepAlive);
        ChannelFuture written = ctx.writeAndFlush(response);
        if (keepAlive) {
            written.addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) {
                    // From a task: a write completed at once would otherwise recurse through every
                    // pipelined request.
                    ctx.executor().execute(() -> next(ctx));
                } else {
                    f.channel().close();
                }
            });
        } else {
            written.addListener(ChannelFutureListener.CLOSE);
        }
    }

    private static ByteBuf text(ChannelHandlerContext ctx, String text) {
        return ByteBufUtil.writeUtf8(ctx.alloc(), text);
    }

    static String oneLine(String problem) {
        StringBuilder line = new StringBuilder(Math.min(problem.length(), MAX_PROBLEM_CHARS + 3));
        for (int i = 0; i < problem.length() && line.length() < MAX_PROBLEM_CHARS; i++) {
            char c = problem.charAt(i);
            line.append(Character.isISOControl(c) ? ' ' : c);
        }
        if (problem.length() > MAX_PROBLEM_CHARS) {
            line.append("...");
        }
        return line.toString().strip();
    }

    private static int indexOfAny(String s, char a, char b) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == a || c == b) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
        if (event instanceof IdleStateEvent) {
            OpsServer.log.debug("closing idle connection from {}", ctx.channel().remoteAddress());
            ctx.close();
        } else {
            ctx.fireUserEventTriggered(event);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Resets and the like: the client's business, and scrapers are frequent.
        OpsServer.log.debug("ops connection from {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
        ctx.close();
    }
}
