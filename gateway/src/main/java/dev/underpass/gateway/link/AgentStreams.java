package dev.underpass.gateway.link;

import dev.underpass.controlplane.api.ProblemMapper;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.gateway.auth.AgentCertificates;
import dev.underpass.gateway.auth.AgentCredentials;
import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.Enrollment;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.ProtocolVersions;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.net.SocketAddress;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The gateway's handling of agent links: the session stream (authentication, control messages)
 * and the data streams the agent opens for consumer connections.
 */
public final class AgentStreams {
    private static final AttributeKey<AgentSession> SESSION = AttributeKey.valueOf("underpass.session");
    private static final AttributeKey<Boolean> VERIFYING = AttributeKey.valueOf("underpass.verifying");
    /** Set once a link was refused an extra stream before a session, so that it is logged once. */
    private static final AttributeKey<Boolean> REFUSED_EXTRA = AttributeKey.valueOf("underpass.refusedExtra");

    private final AgentCredentials credentials;
    private final Executor verifier;
    private final AgentRegistry registry;
    private final AtomicLong sessionIds = new AtomicLong();
    /** Told of every advertise, so that the session gets its health checks. */
    private final Consumer<AgentSession> onAdvertise;

    private final ConnectionEvents events;
    /** Refusals of links and enrollments, one line per source and interval: junk on the agent port comes in floods. */
    private final RepeatedEvents refusals;
    /** Client certificates and enrollment (ADR 0015); null: agents authenticate with tokens and JWTs only. */
    private final AgentCertificates certificates;
    /** Peer nodes' relay streams (docs/cluster.md). */
    private final PeerNodes peers;
    /** Agents' connect streams from their listeners (protocol version 3). */
    private final AgentConnects connects;
    /** Longest listener address an agent may advertise (it is only shown). */
    private static final int MAX_LISTENER_ADDRESS = 300;

    public AgentStreams(
            AgentCredentials credentials,
            AgentCertificates certificates,
            Executor verifier,
            AgentRegistry registry,
            Consumer<AgentSession> onAdvertise,
            ConnectionEvents events,
            RepeatedEvents refusals,
            PeerNodes peers,
            AgentConnects connects) {
        this.peers = peers;
        this.connects = connects;
        this.certificates = certificates;
        this.refusals = refusals;
        this.events = events;
        this.onAdvertise = onAdvertise;
        this.credentials = credentials;
        this.verifier = verifier;
        this.registry = registry;
    }

    ChannelHandler dispatcher() {
        return new ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel ch) {
                ch.pipeline().addLast("dispatch", new Dispatcher());
            }
        };
    }

    /** Where refusals of agent links are logged (the agent port's TLS and ALPN failures too). */
    RepeatedEvents refusals() {
        return refusals;
    }

    ChannelHandler linkHandler() {
        return new LinkHandler();
    }

    /** Routes a new stream by its request path, once its HEADERS arrive. */
    private final class Dispatcher extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof Http2HeadersFrame frame)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
            Http2Headers h = frame.headers();
            String path = h.path() == null ? "" : h.path().toString();
            String method = h.method() == null ? "" : h.method().toString();
            boolean authenticated = stream.parent().attr(SESSION).get() != null;
            if (Protocol.RELAY_PATH.equals(path) && "POST".equals(method) && peers.fromNode(stream.parent())) {
                ctx.pipeline().remove(ctx.handler());
                peers.accept(stream, h);
                return;
            }
            if (!authenticated && Enrollment.PATH.equals(path) && "POST".equals(method) && certificates != null) {
                enroll(ctx, stream, frame);
                return;
            }
            if (!authenticated && !(Protocol.SESSION_PATH.equals(path) && "POST".equals(method))) {
                // Before a session, a link may only open one; anything else ends it, so that an
                // anonymous client cannot keep a link busy with requests.
                refusals.warn(
                        RepeatedEvents.source(stream.parent().remoteAddress()),
                        "agent link from {} refused: {} {} before a session",
                        stream.parent().remoteAddress(),
                        method,
                        path);
                refuse(stream, 401, "Unauthorized", "open a session on " + Protocol.SESSION_PATH + " first");
            } else if (!"POST".equals(method)) {
                Problems.send(stream, 405, "Method not allowed", "method " + method + " (expected: POST)");
            } else if (Protocol.SESSION_PATH.equals(path)) {
                openSession(ctx, stream, h);
            } else if (Protocol.STREAM_PATH.equals(path)) {
                openDataStream(ctx, stream, frame);
            } else if (Protocol.CONNECT_PATH.equals(path)) {
                ctx.pipeline().remove(ctx.handler());
                connect(stream, h);
            } else {
                Problems.send(
                        stream,
                        404,
                        "Not found",
                        "path " + path + " (expected: " + Protocol.SESSION_PATH + " or " + Protocol.STREAM_PATH + ")");
            }
        }
    }

    private void openSession(ChannelHandlerContext ctx, Http2StreamChannel stream, Http2Headers h) {
        Channel link = stream.parent();
        SocketAddress from = link.remoteAddress();
        if (link.attr(SESSION).get() != null) {
            Problems.send(stream, 409, "Conflict", "this link already carries a session");
            return;
        }
        CharSequence offered = h.get(Protocol.HEADER_PROTOCOL);
        int version = ProtocolVersions.choose(ProtocolVersions.parse(offered), Protocol.VERSIONS);
        if (version == 0) {
            String spoken = ProtocolVersions.format(Protocol.VERSIONS);
            refusals.warn(
                    RepeatedEvents.source(from),
                    "agent link from {} refused: agent speaks protocol version {}, gateway speaks {}",
                    from,
                    offered,
                    spoken);
            refuse(
                    stream,
                    426,
                    "Protocol version mismatch",
                    "agent speaks underpass-protocol " + offered + ", gateway speaks " + spoken);
            return;
        }
        X509Certificate peer = certificates == null ? null : AgentCertificates.peer(link);
        if (peer != null) {
            openWithCertificate(ctx, stream, h, version, peer);
            return;
        }
        CharSequence auth = h.get("authorization");
        String token = auth != null && auth.length() > 7 && auth.toString().regionMatches(true, 0, "Bearer ", 0, 7)
                ? auth.toString().substring(7).trim()
                : null;
        if (token == null) {
            refusals.warn(RepeatedEvents.source(from), "agent link from {} refused: no agent token", from);
            refuse(
                    stream,
                    401,
                    "Unauthorized",
                    "no agent token (expected: an Authorization header with Bearer upa_..., or Bearer "
                            + "<OIDC token> with " + Protocol.HEADER_IDENTITY + ": wid-...)");
            return;
        }
        if (link.attr(VERIFYING).setIfAbsent(Boolean.TRUE) != null) {
            secondStreamBeforeSession(stream, "POST " + Protocol.SESSION_PATH);
            return;
        }
        // The store answers from another thread; the session is set up back on the link's loop.
        // Meanwhile the stream reads nothing, so the agent's first control message waits for it.
        stream.config().setAutoRead(false);
        CharSequence identityHeader = h.get(Protocol.HEADER_IDENTITY);
        String identity = identityHeader == null ? null : identityHeader.toString();
        CompletableFuture<AgentCredentials.Check> check;
        try {
            check = CompletableFuture.supplyAsync(() -> credentials.verify(token, identity, from), verifier);
        } catch (RejectedExecutionException busy) {
            refusals.warn(
                    RepeatedEvents.source(from),
                    "agent link from {} refused: too many sessions waiting for their token check",
                    from);
            refuse(stream, 503, "Service unavailable", "the gateway is checking too many agent tokens; retry");
            return;
        }
        check.whenCompleteAsync(
                (result, failure) -> {
                    if (failure != null
                            && failure.getCause() instanceof Refused e
                            && e.kind() == Refused.Kind.TOO_MANY_ATTEMPTS) {
                        // A wrong token from a source or with a prefix over its limit of failures. AuthFailures logs
                        // these, sparingly,
                        // so that a flood of them cannot flood the log; the agent logs the detail and backs off.
                        Problems.send(stream, 429, "Too many requests", e.getMessage(), ProblemMapper.headers(e))
                                .addListener(f -> stream.parent().close());
                    } else if (failure != null) {
                        refusals.warn(
                                RepeatedEvents.source(from),
                                "agent link from {} refused: cannot check its token: {}",
                                from,
                                failure.toString());
                        refuse(
                                stream,
                                503,
                                "Service unavailable",
                                "the gateway cannot check agent tokens right now; retry");
                    } else if (!result.accepted()) {
                        // One line naming the source and the reason (for a JWT: the identity, the issuer, what failed).
                        refusals.warn(
                                RepeatedEvents.source(from), "agent link from {} refused: {}", from, result.reason());
                        refuse(
                                stream,
                                result.status(),
                                result.status() == 401 ? "Unauthorized" : "Service unavailable",
                                result.reason());
                    } else if (stream.isActive()) {
                        establish(ctx, stream, h, result.identity(), version);
                    }
                },
                stream.eventLoop());
    }

    /**
     * A session for an agent whose client certificate the TLS handshake verified against the agent
     * CA: the store says whose it is (unknown, revoked and expired ones are refused), off the loop.
     */
    private void openWithCertificate(
            ChannelHandlerContext ctx, Http2StreamChannel stream, Http2Headers h, int version, X509Certificate peer) {
        Channel link = stream.parent();
        SocketAddress from = link.remoteAddress();
        if (link.attr(VERIFYING).setIfAbsent(Boolean.TRUE) != null) {
            secondStreamBeforeSession(stream, "POST " + Protocol.SESSION_PATH);
            return;
        }
        stream.config().setAutoRead(false);
        AgentCertificates c = certificates;
        CompletableFuture<AgentEnrollments.CertificateCheck> check;
        try {
            check = CompletableFuture.supplyAsync(() -> c.check(peer), verifier);
        } catch (RejectedExecutionException busy) {
            refusals.warn(
                    RepeatedEvents.source(from),
                    "agent link from {} refused: too many sessions waiting for their credential check",
                    from);
            refuse(stream, 503, "Service unavailable", "the gateway is checking too many agent credentials; retry");
            return;
        }
        check.whenCompleteAsync(
                (result, failure) -> {
                    if (failure != null) {
                        refusals.warn(
                                RepeatedEvents.source(from),
                                "agent link from {} refused: cannot check its certificate: {}",
                                from,
                                failure.toString());
                        refuse(
                                stream,
                                503,
                                "Service unavailable",
                                "the gateway cannot check agent certificates right now; retry");
                    } else if (result.identity() == null) {
                        refusals.warn(
                                RepeatedEvents.source(from), "agent link from {} refused: {}", from, result.refusal());
                        refuse(stream, 401, "Unauthorized", result.refusal());
                    } else if (stream.isActive()) {
                        establish(ctx, stream, h, result.identity(), version);
                    }
                },
                stream.eventLoop());
    }

    /**
     * A link that opens another stream while its first one is still being checked ends at once:
     * an anonymous client must not hold one link open with a thousand streams waiting (issue 12).
     * Logged once per link.
     */
    private void secondStreamBeforeSession(Http2StreamChannel stream, String what) {
        Channel link = stream.parent();
        if (link.attr(REFUSED_EXTRA).setIfAbsent(Boolean.TRUE) == null) {
            refusals.warn(
                    RepeatedEvents.source(link.remoteAddress()),
                    "agent link from {} refused: a second stream ({}) " + "before a session",
                    link.remoteAddress(),
                    what);
        }
        refuse(
                stream,
                409,
                "Conflict",
                "this link already opened its one stream before a session (expected: one "
                        + "enrollment or session request per link; open a new link)");
    }

    /**
     * An enrollment on a link without a session: {@link EnrollStream} takes the stream over. Like a
     * session request it is the link's one stream before a session, so that one anonymous link
     * cannot buffer and verify thousands of requests at once: a second such stream ends the link.
     */
    private void enroll(ChannelHandlerContext ctx, Http2StreamChannel stream, Http2HeadersFrame frame) {
        Channel link = stream.parent();
        if (link.attr(VERIFYING).setIfAbsent(Boolean.TRUE) != null) {
            secondStreamBeforeSession(
                    stream, frame.headers().method() + " " + frame.headers().path());
            return;
        }
        String token = EnrollStream.bearer(frame.headers().get("authorization"));
        if (token == null) {
            refusals.warn(
                    RepeatedEvents.source(link.remoteAddress()),
                    "agent enrollment from {} refused: no enrollment token",
                    link.remoteAddress());
            refuse(
                    stream,
                    401,
                    "Unauthorized",
                    "no enrollment token (expected: an Authorization header with Bearer upe_...)");
        } else if (frame.isEndStream()) {
            EnrollStream.noBody(stream, refusals);
        } else {
            ctx.pipeline().replace(ctx.handler(), "enroll", new EnrollStream(certificates, verifier, token, refusals));
        }
    }

    private void establish(
            ChannelHandlerContext ctx,
            Http2StreamChannel stream,
            Http2Headers h,
            AgentTokens.Identity identity,
            int version) {
        Channel link = stream.parent();
        CharSequence agentName = h.get(Protocol.HEADER_AGENT);
        AgentSession session = new AgentSession(
                sessionIds.incrementAndGet(),
                identity.account(),
                identity.tokenId(),
                identity.tokenName(),
                agentName == null ? "unnamed" : agentName.toString(),
                link,
                stream,
                version,
                events);
        link.attr(SESSION).set(session);
        ctx.pipeline().addLast("control-content", new DataFrameContent());
        ControlCodec.addDecoder(ctx.pipeline());
        ctx.pipeline().addLast("control", new ControlInbound(session));
        ctx.pipeline().remove(ctx.handler());
        // Read what waited (the agent's advertise, sent with its request) before answering, so
        // that the session serves its targets by the time the agent sees it established.
        stream.config().setAutoRead(true);
        Http2Headers ok = new DefaultHttp2Headers().status("200");
        ok.set("content-type", Protocol.CONTENT_TYPE_NDJSON);
        ok.set(Protocol.HEADER_SESSION, Long.toString(session.id()));
        ok.set(Protocol.HEADER_ACCOUNT, session.account());
        ok.set(Protocol.HEADER_PROTOCOL, Integer.toString(version));
        java.util.List<String> nodes = peers.agentAddresses();
        if (!nodes.isEmpty()) {
            ok.set(Protocol.HEADER_NODES, String.join(",", nodes));
        }
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(ok));
        GatewayLog.SESSIONS.info(
                "{} established from {} (protocol version {})", session, link.remoteAddress(), version);
    }

    /** Answers with a problem and then closes the link: it has no business staying open. */
    private static void refuse(Http2StreamChannel stream, int status, String title, String detail) {
        Problems.send(stream, status, title, detail)
                .addListener(f -> stream.parent().close());
    }

    /** A connection accepted on one of the agent's listeners (version 3): the consumer side carries it. */
    private void connect(Http2StreamChannel stream, Http2Headers h) {
        AgentSession session = stream.parent().attr(SESSION).get();
        if (session.version() < 3) {
            Problems.send(
                    stream,
                    400,
                    "Bad request",
                    Protocol.CONNECT_PATH + " needs protocol version 3 (this session speaks " + session.version()
                            + ")");
            return;
        }
        stream.config().setAutoRead(false); // nothing is read before the connection is carried
        connects.accept(session, stream, h);
    }

    private void openDataStream(ChannelHandlerContext ctx, Http2StreamChannel stream, Http2HeadersFrame frame) {
        AgentSession session = stream.parent().attr(SESSION).get();
        Http2Headers h = frame.headers();
        if (h.contains(Protocol.HEADER_STANDBY)) {
            ctx.pipeline().remove(ctx.handler());
            stream.config().setAutoRead(false); // nothing comes from the agent before the answer
            if (!session.addStandby(stream)) {
                Problems.send(
                        stream,
                        503,
                        "Service unavailable",
                        "this session already has " + Protocol.MAX_STANDBY_STREAMS + " standby streams");
            }
            return;
        }
        CharSequence idText = h.get(Protocol.HEADER_CONNECTION_ID);
        long id;
        try {
            id = Long.parseLong(String.valueOf(idText));
        } catch (NumberFormatException e) {
            Problems.send(
                    stream,
                    400,
                    "Bad request",
                    Protocol.HEADER_CONNECTION_ID + ": " + idText + " (expected: a number)");
            return;
        }
        PendingConnection p = session.claim(id);
        if (p == null) {
            Problems.send(stream, 404, "Not found", "connection " + id + " is unknown, expired or already open");
            return;
        }
        p.cancelTimeout();
        ctx.pipeline().remove(ctx.handler());
        ConnectionStart.relay(
                session, stream, ConnectionStart.ok(), id, p.route(), p.target(), p.socket(), p.acceptedNanos());
        if (frame.isEndStream()) {
            // The agent's target sent its FIN before any byte: pass that half-close on.
            stream.pipeline().fireChannelRead(frame);
        }
    }

    /** Unwraps the session stream's DATA frames; the end or reset of that stream ends the link. */
    private static final class DataFrameContent extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2DataFrame data) {
                boolean end = data.isEndStream();
                ByteBuf content = data.content();
                if (content.isReadable()) {
                    ctx.fireChannelRead(content);
                } else {
                    content.release();
                }
                if (end) {
                    closeLink(ctx, "agent ended its session stream");
                }
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) {
                closeLink(ctx, "agent reset its session stream (" + reset.errorCode() + ")");
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closeLink(ctx, "session stream closed");
            ctx.fireChannelInactive();
        }
    }

    private static void closeLink(ChannelHandlerContext ctx, String reason) {
        Channel link = ((Http2StreamChannel) ctx.channel()).parent();
        if (link.isOpen()) {
            AgentSession s = link.attr(SESSION).get();
            GatewayLog.SESSIONS.info("{} closing: {}", s == null ? "agent link " + link.remoteAddress() : s, reason);
            link.close();
        }
    }

    /** Control messages from the agent. */
    private final class ControlInbound extends ChannelInboundHandlerAdapter {
        private final AgentSession session;
        private boolean registered;

        ControlInbound(AgentSession session) {
            this.session = session;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            switch ((ControlMessage) msg) {
                case ControlMessage.Advertise a -> advertise(ctx, a);
                case ControlMessage.DialFailed f ->
                    session.fail(
                            f.connection(),
                            f.error().name(),
                            "agent could not reach the target: " + f.error()
                                    + (f.detail() == null ? "" : " (" + f.detail() + ")"));
                case ControlMessage.Health h -> {
                    requireVersion2(h);
                    session.health(h);
                }
                case ControlMessage.Drain d -> {
                    requireVersion2(d);
                    session.drain(d.reason());
                }
                case ControlMessage.Open o -> wrongDirection(o);
                case ControlMessage.HealthChecks c -> wrongDirection(c);
                case ControlMessage.Draining d -> wrongDirection(d);
                case ControlMessage.Listeners l -> wrongDirection(l);
            }
        }

        private void requireVersion2(ControlMessage m) {
            if (session.version() < 2) {
                throw new IllegalArgumentException("control message: " + ControlCodec.typeOf(m)
                        + " (expected in protocol version 2, this session speaks " + session.version() + ")");
            }
        }

        private static void wrongDirection(ControlMessage m) {
            throw new IllegalArgumentException("control message: " + ControlCodec.typeOf(m)
                    + " (expected: advertise, dialFailed, health or drain from an agent)");
        }

        private void advertise(ChannelHandlerContext ctx, ControlMessage.Advertise a) {
            if (a.targets().size() > Protocol.MAX_ADVERTISED_TARGETS) {
                throw new IllegalArgumentException("advertise.targets: "
                        + a.targets().size() + " entries (expected: at most " + Protocol.MAX_ADVERTISED_TARGETS + ")");
            }
            Set<HostAndPort> targets = new LinkedHashSet<>();
            for (String t : a.targets()) {
                targets.add(HostAndPort.parse(t));
            }
            session.advertised(targets);
            if (session.version() >= 3) {
                session.advertisedListeners(listeners(a.listeners()));
            }
            if (!registered) {
                registry.add(session);
                registered = true;
            }
            onAdvertise.accept(session);
            GatewayLog.SESSIONS.info(
                    "{} advertised {} target(s): {} (agent version {})",
                    session,
                    targets.size(),
                    targets,
                    a.agentVersion());
        }

        /** The agent's listeners, checked: each names an endpoint id and a port; the address is only shown. */
        private static java.util.List<ControlMessage.Listener> listeners(
                java.util.List<ControlMessage.Listener> declared) {
            if (declared.size() > Protocol.MAX_AGENT_LISTENERS) {
                throw new IllegalArgumentException("advertise.listeners: " + declared.size()
                        + " entries (expected: at most " + Protocol.MAX_AGENT_LISTENERS + ")");
            }
            java.util.List<ControlMessage.Listener> checked = new java.util.ArrayList<>();
            for (ControlMessage.Listener l : declared) {
                if (!Protocol.LISTENER_ENDPOINT.matcher(l.endpoint()).matches()) {
                    throw new IllegalArgumentException("advertise.listeners: an endpoint that is neither an endpoint "
                            + "id nor a service (expected: ep-... or provider/service)");
                }
                if (l.port() < 1 || l.port() > 65535) {
                    throw new IllegalArgumentException(
                            "advertise.listeners: port " + l.port() + " (expected: 1-65535)");
                }
                String address =
                        l.address() == null ? null : dev.underpass.telemetry.ControlCharacters.escape(l.address());
                if (address != null && address.length() > MAX_LISTENER_ADDRESS) {
                    address = address.substring(0, MAX_LISTENER_ADDRESS);
                }
                checked.add(new ControlMessage.Listener(address, l.endpoint(), l.port(), null, null));
            }
            return checked;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            closeLink(ctx, "bad control message: " + cause.getMessage());
        }
    }

    /** The link itself: heartbeat timeouts, errors and the end of the session. */
    private final class LinkHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                AgentSession s = ctx.channel().attr(SESSION).get();
                if (s == null) {
                    refusals.warn(
                            RepeatedEvents.source(ctx.channel().remoteAddress()),
                            "agent link from {} closed: no frame " + "within the heartbeat timeout and no session",
                            ctx.channel().remoteAddress());
                } else {
                    GatewayLog.SESSIONS.warn(
                            "{}: no frame from the agent within the heartbeat timeout, closing the link", s);
                }
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            AgentSession s = ctx.channel().attr(SESSION).get();
            if (s == null) {
                refusals.warn(
                        RepeatedEvents.source(ctx.channel().remoteAddress()),
                        "agent link from {} closed: {}",
                        ctx.channel().remoteAddress(),
                        Causes.root(cause));
            } else {
                GatewayLog.SESSIONS.warn("{}: link error, closing: {}", s, Causes.root(cause));
            }
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            AgentSession s = ctx.channel().attr(SESSION).get();
            if (s != null) {
                registry.remove(s);
                s.failAll("agent session " + s.id() + " ended before the agent opened the stream");
                GatewayLog.SESSIONS.info(
                        "{} closed after {}s",
                        s,
                        Duration.between(s.since(), java.time.Instant.now()).toSeconds());
            }
            ctx.fireChannelInactive();
        }
    }
}
