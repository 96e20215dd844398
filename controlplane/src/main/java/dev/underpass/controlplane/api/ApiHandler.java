package dev.underpass.controlplane.api;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.tenancy.OidcLogins;
import dev.underpass.protocol.Protocol;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.ssl.SslHandler;
import java.net.SocketAddress;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs each request of one connection, in order: authenticate, route, call the operation, answer
 * with JSON or an RFC 9457 problem, and log one line (never a header, so never a key). A client
 * may pipeline until {@value #MAX_PIPELINED} requests await their answers; the next one is
 * answered 429 and the connection closed after it, so that every request before it gets its
 * answer (Netty's own bound would close the connection with none).
 */
final class ApiHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    static final Logger log = LoggerFactory.getLogger("underpass.api");
    static final String PROBLEM_JSON = ProblemJson.CONTENT_TYPE;
    /** Requests a connection may have read and not yet answered. */
    static final int MAX_PIPELINED = 128;

    private final Router router;
    private final ApiKeys keys;
    private final OidcLogins logins;
    private final ConsoleFront console;
    private final ExecutorService operations;
    /** Refusals of callers that did not authenticate, and failed connections: one line per source, kind and interval. */
    private final RepeatedEvents refusals;
    /** Responses leave in request order even when a client pipelines. */
    private CompletableFuture<Void> previous = CompletableFuture.completedFuture(null);
    /** Requests read but not yet answered; while there are any, the connection reads no more. */
    private final AtomicInteger inFlight = new AtomicInteger();
    /** Set once a request over {@link #MAX_PIPELINED} was refused: the rest are dropped, the connection closes. */
    private volatile boolean overflowed;
    /** Set once an answer said Connection: close: whatever the client still sends is dropped. */
    private volatile boolean closing;
    /** How long a closing connection drops what the client still sends before it is closed regardless. */
    static final long LINGER_MILLIS = 2_000;

    ApiHandler(
            Router router,
            ApiKeys keys,
            OidcLogins logins,
            ConsoleFront console,
            ExecutorService operations,
            RepeatedEvents refusals) {
        this.refusals = refusals;
        this.router = router;
        this.keys = keys;
        this.logins = logins;
        this.console = console;
        this.operations = operations;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        if (overflowed || closing) {
            return; // the answer said Connection: close; the client sends these again on a new connection
        }
        long start = System.nanoTime();
        String method = request.method().name();
        String uri = request.uri();
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        QueryStringDecoder decoded = new QueryStringDecoder(uri);
        String path = decoded.path();
        if (request.decoderResult().isFailure()) {
            Throwable cause = request.decoderResult().cause();
            int status = cause instanceof TooLongHttpLineException
                    ? 414
                    : cause instanceof TooLongHttpHeaderException ? 431 : 400;
            respond(
                    ctx,
                    problem(status, "malformed HTTP request: " + cause.getMessage(), path, List.of()),
                    false,
                    method,
                    path,
                    null,
                    start);
            return;
        }
        Caller caller = new Caller(
                request.headers().get(HttpHeaderNames.AUTHORIZATION),
                request.headers().get(Protocol.HEADER_ACCOUNT),
                request.headers().get(HttpHeaderNames.COOKIE),
                request.headers().get(ConsoleFront.CSRF_HEADER),
                request.headers().get(HttpHeaderNames.CONTENT_TYPE));
        SocketAddress from = ctx.channel().remoteAddress();
        if (inFlight.get() >= MAX_PIPELINED) {
            // Netty's codec decodes all that one read brought; answered in turn, after those before it.
            overflowed = true;
            log.info(
                    "connection from {} pipelined more than {} requests: the next is refused, the connection closed",
                    from,
                    MAX_PIPELINED);
            previous = previous.thenRunAsync(
                    () -> respond(
                            ctx,
                            problem(
                                    429,
                                    "more than " + MAX_PIPELINED
                                            + " requests were sent ahead of their answers on this connection; this one and those after it were "
                                            + "not run (expected: at most " + MAX_PIPELINED
                                            + " requests awaiting answers; send the rest again on "
                                            + "a new connection)",
                                    path,
                                    List.of()),
                            false,
                            method,
                            path,
                            null,
                            start),
                    operations);
            return;
        }
        byte[] body = ByteBufUtil.getBytes(request.content());
        inFlight.incrementAndGet();
        ctx.channel().config().setAutoRead(false);
        previous = previous.thenRunAsync(
                () -> {
                    Principal[] who = new Principal[1];
                    FullHttpResponse response;
                    try {
                        response = ConsoleFront.serves(path)
                                ? console.handle(method, path, caller.cookie(), caller.contentType(), from, body)
                                : handle(method, path, decoded.parameters(), caller, from, body, who);
                    } catch (ApiException e) {
                        response = problem(e.status(), e.getMessage(), path, e.errors());
                        e.headers().forEach(response.headers()::set);
                    } catch (Refused e) {
                        response = problem(ProblemMapper.problem(e, path));
                        ProblemMapper.headers(e).forEach(response.headers()::set);
                    } catch (Exception | Error e) { // whatever happens, this request is answered and the next one runs
                        response = failure(e, path);
                    }
                    if (ConsoleFront.serves(path)) {
                        ConsoleFront.secure(response); // its problems too
                    }
                    respond(ctx, response, keepAlive, method, path, who[0], start);
                    if (inFlight.decrementAndGet() == 0 && keepAlive && !overflowed) {
                        ctx.channel().config().setAutoRead(true);
                    }
                },
                operations);
    }

    private FullHttpResponse handle(
            String method,
            String path,
            Map<String, List<String>> query,
            Caller caller,
            SocketAddress from,
            byte[] body,
            Principal[] who)
            throws Exception {
        Router.Match match = router.match(method, path);
        if (match == null) {
            List<String> allowed = router.allowed(path);
            if (allowed.isEmpty()) {
                throw new ApiException(
                        404, "no API resource at " + path + " (the API is described at /v1/openapi.yaml)");
            }
            throw new ApiException(
                    405,
                    "method " + method + " is not allowed on " + path + " (expected: " + String.join(", ", allowed)
                            + ")",
                    List.of(),
                    Map.of("allow", String.join(", ", allowed)));
        }
        Principal principal = null;
        if (match.route().authenticated()
                && caller.authorization() == null
                && ConsoleFront.hasSession(caller.cookie())) {
            // The web console: its session cookie stands for the key it signed in with.
            principal = console.caller(method, caller.cookie(), caller.csrf());
            who[0] = principal;
        } else if (match.route().authenticated()) {
            String bearer = bearer(caller.authorization());
            String account = caller.account();
            // Anything but an API key is a user's OIDC token, where the operator turned OIDC login on;
            // the underpass-account header names the account whose user it logs in as.
            principal = bearer != null && !bearer.startsWith(Secrets.API_KEY_PREFIX) && logins.enabled()
                    ? logins.authenticate(bearer, account, from, "API")
                    : keys.authenticate(bearer, from, "API");
            who[0] = principal;
        }
        Object result = match.route().handler().handle(new Call(principal, match.parameters(), query, body));
        HttpResponseStatus status = HttpResponseStatus.valueOf(match.route().status());
        if (result == null) {
            return new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
        }
        if (result instanceof Routes.Raw raw) {
            return response(status, raw.contentType(), raw.bytes());
        }
        return response(status, "application/json", Json.write(result));
    }

    /** What a request says about its caller: an API key or OIDC token, the account header, a console session. */
    private record Caller(String authorization, String account, String cookie, String csrf, String contentType) {}

    private static String bearer(String authorization) {
        if (authorization == null) {
            return null;
        }
        if (!authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new ApiException(
                    401,
                    "authorization header is not 'Bearer <API key>' (expected: an Authorization header: " + "Bearer "
                            + Secrets.API_KEY_PREFIX + "...)");
        }
        return authorization.substring(7).trim();
    }

    private static FullHttpResponse failure(Throwable e, String path) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root instanceof SQLException sql && "23505".equals(sql.getSQLState())) {
            // A unique constraint caught what a concurrent request created first.
            return problem(
                    409,
                    "a concurrent request changed the same object first; look at it again and retry if still wanted",
                    path,
                    List.of());
        }
        String reference = Secrets.id("err-", 12);
        log.error("api {} failed, reference {}", path, reference, e);
        return problem(
                500,
                "the gateway failed to complete the request; its log has the cause under reference " + reference,
                path,
                List.of());
    }

    static FullHttpResponse problem(int status, String detail, String instance, List<String> errors) {
        return problem(ProblemJson.of(status, detail).withInstance(instance).withErrors(errors));
    }

    /** Every problem passes here, so every detail is masked (see {@link ProblemJson}). */
    static FullHttpResponse problem(ProblemJson p) {
        FullHttpResponse r = response(HttpResponseStatus.valueOf(p.status()), PROBLEM_JSON, p.bytes());
        if (p.status() == 401) {
            r.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer realm=\"underpass\"");
        }
        return r;
    }

    private static FullHttpResponse response(HttpResponseStatus status, String contentType, byte[] body) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        return r;
    }

    private void respond(
            ChannelHandlerContext ctx,
            FullHttpResponse response,
            boolean keepAlive,
            String method,
            String path,
            Principal who,
            long start) {
        HttpUtil.setContentLength(response, response.content().readableBytes());
        if (keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        } else {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        int status = response.status().code();
        var f = ctx.writeAndFlush(response);
        if (!keepAlive) {
            closing = true;
            f.addListener(written -> lingeringClose(ctx));
        }
        if (status == 429) {
            return; // too many failed authentications: AuthFailures logs these, sparingly, so that they cannot flood
            // the log
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        String caller = who == null ? "-" : who.user() + "@" + who.account() + " key=" + who.keyId();
        if (status >= 500) {
            log.warn(
                    "{} {} {} {}ms {} from {}",
                    method,
                    path,
                    status,
                    ms,
                    caller,
                    ctx.channel().remoteAddress());
        } else if (status >= 400 && who == null) {
            // Nobody authenticated: junk and scanners repeat themselves. One line per source and status every 10 s.
            refusals.info(
                    RepeatedEvents.source(ctx.channel().remoteAddress()) + " " + status,
                    "{} {} {} {}ms {} from {}",
                    method,
                    path,
                    status,
                    ms,
                    caller,
                    ctx.channel().remoteAddress());
        } else {
            log.info(
                    "{} {} {} {}ms {} from {}",
                    method,
                    path,
                    status,
                    ms,
                    caller,
                    ctx.channel().remoteAddress());
        }
    }

    /**
     * Ends a connection after its last answer the way HTTP servers linger: TLS close_notify and a
     * FIN first, then what the client still sends is read and dropped until it closes, for at most
     * {@link #LINGER_MILLIS}. Closing with requests unread would reset the connection, and a client
     * could lose answers it had not read yet (pipelined requests past the bound).
     */
    private void lingeringClose(ChannelHandlerContext ctx) {
        Channel ch = ctx.channel();
        if (!ch.isActive()) {
            return;
        }
        SslHandler tls = ch.pipeline().get(SslHandler.class);
        ChannelFuture notified = tls != null ? tls.closeOutbound() : ch.newSucceededFuture();
        notified.addListener(done -> {
            if (ch instanceof DuplexChannel duplex && ch.isActive()) {
                duplex.shutdownOutput();
            }
        });
        ch.config().setAutoRead(true);
        ctx.executor().schedule(() -> ch.close(), LINGER_MILLIS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        String source = RepeatedEvents.source(ctx.channel().remoteAddress());
        if (cause instanceof DecoderException && cause.getCause() instanceof SSLException ssl) {
            refusals.info(
                    source, "TLS handshake from {} failed: {}", ctx.channel().remoteAddress(), ssl.getMessage());
        } else {
            refusals.info(source, "connection from {} closed: {}", ctx.channel().remoteAddress(), cause.toString());
        }
        ctx.close();
    }
}
