package dev.underpass.agent;

import dev.underpass.protocol.Causes;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.LinkSettings;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.ProtocolVersions;
import dev.underpass.protocol.Drain;
import dev.underpass.protocol.Tls;
import dev.underpass.protocol.Transport;
import dev.underpass.telemetry.OpsServer;
import dev.underpass.telemetry.Probe;
import dev.underpass.telemetry.RepeatedEvents;
import dev.underpass.telemetry.Telemetry;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.proxy.HttpProxyHandler;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.resolver.NoopAddressResolverGroup;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running agent: keeps one session to the gateway up (heartbeats, reconnect with backoff and
 * jitter) and carries the gateway's requests to its allowed targets.
 *
 * <h2>Lifecycle</h2>
 * {@link #start()} connects in the background and reconnects until {@link #close()}. Each link
 * goes TCP (through the egress proxy if any), TLS 1.3 with the gateway verified, ALPN h2, then
 * a session stream carrying the agent token (or, with OIDC workload identity, the identity and
 * the JWT read afresh from its file) and the advertised targets.
 */
public final class Agent implements AutoCloseable {
    /** The version this agent reports to the gateway. */
    public static final String VERSION = "0.1.0";
    private static final Logger log = LoggerFactory.getLogger("underpass.agent");
    private static final int MAX_PROBLEM_BYTES = 4096;
    /** A session that lasted this long resets the reconnect backoff. */
    static final Duration STABLE_SESSION = Duration.ofSeconds(10);
    /** How long a draining agent waits for the gateway to confirm. */
    private static final Duration DRAIN_ANSWER = Duration.ofSeconds(5);
    /** The end of a 426's detail: "..., gateway speaks 2, 1". */
    private static final java.util.regex.Pattern GATEWAY_SPEAKS =
            java.util.regex.Pattern.compile("gateway speaks ([0-9]+(?:, ?[0-9]+)*)");

    private final AgentConfig config;
    private final HostAndPort gateway;
    private final String name;
    private final String token;
    private final SslContext ssl;
    private final AgentConfig.ProxySettings proxy;
    private final TargetDialer dialer;
    /** Resolves targets' names, which blocks: a few threads and a bounded queue, never the event loop. */
    private final ThreadPoolExecutor resolver = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(1024), Thread.ofPlatform().name("underpass-resolver-", 0).daemon().factory());
    private final List<String> advertised;
    private final EventLoopGroup group = Transport.group("underpass-agent");
    private final Backoff backoff = new Backoff(Backoff.DEFAULT_INITIAL, Backoff.DEFAULT_MAX);
    /** Reconnect lines, one per reason and interval while the gateway stays away. */
    private final RepeatedEvents reconnects = new RepeatedEvents(log, RepeatedEvents.DEFAULT_INTERVAL, 100, group);
    private final AtomicReference<Channel> link = new AtomicReference<>();
    private volatile CountDownLatch established = new CountDownLatch(1);
    private volatile boolean closed;
    private final HealthChecker health;
    private final Telemetry telemetry;
    private final AgentMetrics metrics;
    private volatile OpsServer ops;
    /**
     * What the next session request offers: every version, or only the highest one an older
     * gateway named in its 426 (it insists on exactly its own). Back to every version after a
     * session, so that an upgraded gateway is noticed.
     */
    private volatile List<Integer> offer;

    /**
     * Validates {@code config} and prepares TLS; connects only on {@link #start()}.
     *
     * @throws IllegalArgumentException listing every configuration problem
     */
    public Agent(AgentConfig config) throws IOException {
        this.offer = Protocol.VERSIONS;
        this.config = Objects.requireNonNull(config, "config");
        List<String> errors = config.validate();
        if (!errors.isEmpty()) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            resolver.shutdownNow();
            throw new IllegalArgumentException("invalid agent configuration:\n  " + String.join("\n  ", errors));
        }
        this.gateway = config.gatewayAddress();
        this.name = agentName(config);
        this.token = config.resolveToken();
        this.ssl = ClientCertificate.sslContext(config);
        this.proxy = config.proxy() == null ? null : AgentConfig.ProxySettings.parse(config.proxy());
        var targets = new LinkedHashSet<>(config.targetAddresses());
        TargetAddresses addresses = new TargetAddresses(config.targetNetworks(), TargetAddresses.Resolver.SYSTEM);
        this.dialer = new TargetDialer(targets, addresses, resolver, config.dialTimeout(), gateway.toString());
        this.advertised = targets.stream().map(HostAndPort::toString).toList();
        this.telemetry = Telemetry.create();
        this.metrics = new AgentMetrics(telemetry.registry(), dialer::active);
        this.dialer.metrics(metrics);
        this.health = new HealthChecker(targets, addresses, metrics);
    }

    /**
     * Connects in the background; first opens the metrics and probes port if configured.
     *
     * @throws IOException when that port cannot be bound
     */
    public void start() throws IOException {
        HostAndPort listen = config.metricsListenAddress();
        if (listen != null) {
            ops = OpsServer.start(new InetSocketAddress(listen.host(), listen.port()), telemetry.registry(), List.of(
                    new Probe("session", () -> established.getCount() == 0 ? Optional.empty()
                            : Optional.of("no session with gateway " + gateway)),
                    new Probe("draining", () -> closed ? Optional.of("the agent is stopping") : Optional.empty())));
        }
        String networks = config.targetNetworks().isEmpty()
                ? "anywhere but to loopback, link-local or other special addresses" : "only into " + config.targetNetworks();
        log.info("agent starting as '{}': gateway {}{}, {} target(s) allowed: {}; names may lead {}", name(), gateway,
                proxy == null ? "" : " via proxy " + proxy, advertised.size(), advertised, networks);
        if (config.usesIdentity()) {
            log.info("authenticating as agent identity {} with the JWT read from {} at every connect", config.identity(),
                    config.oidcTokenFile());
        }
        group.execute(this::connect);
    }

    /** Waits until a session is established (for tests, the demo and readiness). */
    public boolean awaitSession(Duration timeout) throws InterruptedException {
        return established.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    private String name() {
        return name;
    }

    /** The name the gateway shows for this agent: the configured one, else the host's name (looked up once). */
    private static String agentName(AgentConfig config) {
        if (config.name() != null) {
            return config.name();
        }
        String host = System.getenv("HOSTNAME");
        if (host != null && !host.isBlank()) {
            return host;
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException unknown) {
            return "unnamed";
        }
    }

    private void connect() {
        if (closed) {
            return;
        }
        if (!config.usesIdentity()) {
            dial(token);
            return;
        }
        // Read afresh for every link (Kubernetes and CI replace the token before it expires), and off the event
        // loop: the file may sit on a slow or network file system, and a blocked loop would stall every stream.
        Thread.ofVirtual().name("underpass-oidc-token").start(() -> {
            Runnable next;
            try {
                String jwt = config.readOidcToken();
                next = () -> dial(jwt);
            } catch (IOException | RuntimeException e) {
                String reason = "cannot read the OIDC token for identity " + config.identity() + ": " + e.getMessage();
                next = () -> retry(reason, false);
            }
            try {
                group.execute(next);
            } catch (java.util.concurrent.RejectedExecutionException stopped) {
                // the agent was closed while the file was read
            }
        });
    }

    /** Opens a link presenting {@code bearer} (the token, this link's JWT, or null for a client certificate). */
    private void dial(String bearer) {
        if (closed) {
            return;
        }
        Bootstrap b = new Bootstrap()
                .group(group)
                .channel(Transport.socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) config.dialTimeout().toMillis())
                .handler(new LinkInitializer(bearer));
        if (proxy != null) {
            b.resolver(NoopAddressResolverGroup.INSTANCE); // the proxy resolves the gateway's name
        }
        b.connect(InetSocketAddress.createUnresolved(gateway.host(), gateway.port()))
                .addListener((ChannelFutureListener) f -> {
                    if (!f.isSuccess()) {
                        retry("cannot connect: " + Causes.root(f.cause()), refused(f.cause()));
                        return;
                    }
                    Channel ch = f.channel();
                    link.set(ch);
                    ch.closeFuture().addListener(c -> {
                        link.compareAndSet(ch, null);
                        LinkState s = ch.attr(LinkState.KEY).get();
                        if (s != null && s.reconnectMillis != null) {
                            backoff.quick(Duration.ofMillis(Math.clamp(s.reconnectMillis, 100, 60_000)));
                        }
                        retry(s == null ? "link closed" : s.reason(), false);
                    });
                });
    }

    /** A connection the gateway's host refused: it is up, but nothing listens (yet): a restart, most often. */
    private static boolean refused(Throwable cause) {
        return cause instanceof java.net.ConnectException && !(cause instanceof io.netty.channel.ConnectTimeoutException)
                && String.valueOf(cause.getMessage()).toLowerCase(java.util.Locale.ROOT).contains("refused");
    }

    private void retry(String reason, boolean refused) {
        if (closed) {
            return;
        }
        if (established.getCount() == 0) {
            established = new CountDownLatch(1);
        }
        Duration delay = refused ? backoff.nextRefused() : backoff.next();
        // During an outage this repeats every second or so: one line per reason and interval, with a count.
        reconnects.warn(reason, "gateway {}: {}; reconnecting in {} ms", gateway, reason, delay.toMillis());
        group.schedule(this::connect, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Per-link state: why it ended, and its heartbeat task. */
    private static final class LinkState {
        static final io.netty.util.AttributeKey<LinkState> KEY = io.netty.util.AttributeKey.valueOf("underpass.link");
        private volatile String reason;
        /** Set when the gateway said it is stopping: try it again about this often once the link closed. */
        private volatile Long reconnectMillis;
        /** What the session request carries as its bearer credential: the token or this link's JWT; null for none. */
        private final String bearer;
        private ScheduledFuture<?> heartbeat;
        /** The version the gateway chose, once the session is established. */
        private volatile int version;
        private volatile Http2StreamChannel session;
        /** Completed when the gateway confirms a drain: it sends nothing new after that. */
        private final CompletableFuture<Void> draining = new CompletableFuture<>();

        LinkState(String bearer) {
            this.bearer = bearer;
        }

        String reason() {
            return reason == null ? "the gateway closed the link" : reason;
        }

        void fail(String why) {
            if (reason == null) {
                reason = why;
            }
        }
    }

    private final class LinkInitializer extends ChannelInitializer<SocketChannel> {
        private final String bearer;

        LinkInitializer(String bearer) {
            this.bearer = bearer;
        }

        @Override
        protected void initChannel(SocketChannel ch) {
            ch.attr(LinkState.KEY).set(new LinkState(bearer));
            if (proxy != null) {
                InetSocketAddress proxyAddress = new InetSocketAddress(proxy.address().host(), proxy.address().port());
                ch.pipeline().addLast("proxy", proxy.username() == null
                        ? new HttpProxyHandler(proxyAddress)
                        : new HttpProxyHandler(proxyAddress, proxy.username(), proxy.password()));
            }
            ch.pipeline().addLast("tls", ssl.newHandler(ch.alloc(), gateway.host(), gateway.port()));
            ch.pipeline().addLast("heartbeat", new IdleStateHandler(
                    config.heartbeatTimeout().toMillis(), 0, 0, TimeUnit.MILLISECONDS));
            ch.pipeline().addLast("alpn", new Alpn());
        }
    }

    private final class Alpn extends ApplicationProtocolNegotiationHandler {
        Alpn() {
            super("");
        }

        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
            Channel ch = ctx.channel();
            if (!ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                state(ch).fail("the gateway did not agree to HTTP/2 (ALPN '" + protocol + "')");
                ctx.close();
                return;
            }
            ch.pipeline().addLast("h2", LinkSettings.clientCodec());
            ch.pipeline().addLast("streams", new Http2MultiplexHandler(new RefuseInbound()));
            ch.pipeline().addLast("link", new LinkHandler());
            ch.writeAndFlush(new DefaultHttp2WindowUpdateFrame(
                    LinkSettings.CONNECTION_WINDOW_BYTES - LinkSettings.DEFAULT_WINDOW_BYTES));
            openSession(ch);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            // Recorded from the event, which comes before the close; the exception comes after it.
            if (evt instanceof SslHandshakeCompletionEvent done && !done.isSuccess()) {
                state(ctx.channel()).fail("TLS handshake failed: " + Causes.root(done.cause()));
                ctx.close();
                return;
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            state(ctx.channel()).fail(Causes.root(cause));
            ctx.close();
        }
    }

    private static LinkState state(Channel ch) {
        return ch.attr(LinkState.KEY).get();
    }

    private void openSession(Channel ch) {
        new Http2StreamChannelBootstrap(ch).handler(new SessionHandler()).open().addListener(f -> {
            if (!f.isSuccess()) {
                state(ch).fail("cannot open the session stream: " + Causes.root(f.cause()));
                ch.close();
                return;
            }
            Http2StreamChannel s = (Http2StreamChannel) f.getNow();
            Http2Headers h = new DefaultHttp2Headers().method("POST").path(Protocol.SESSION_PATH).scheme("https")
                    .authority(gateway.toString());
            String bearer = state(ch).bearer;
            if (bearer != null) { // an agent with a client certificate presented it in the TLS handshake
                h.set("authorization", "Bearer " + bearer);
            }
            if (config.usesIdentity()) {
                h.set(Protocol.HEADER_IDENTITY, config.identity());
            }
            h.set(Protocol.HEADER_PROTOCOL, ProtocolVersions.format(offer));
            h.set(Protocol.HEADER_AGENT, name());
            h.set("content-type", Protocol.CONTENT_TYPE_NDJSON);
            s.write(new DefaultHttp2HeadersFrame(h));
            s.writeAndFlush(ControlCodec.frame(s.alloc(), new ControlMessage.Advertise(VERSION, advertised)));
        });
    }

    /**
     * The session stream: the gateway's answer, then its control messages. A refusal is read
     * in full (it is a short problem document) and logged with the gateway's reason.
     */
    private final class SessionHandler extends ChannelInboundHandlerAdapter {
        private boolean accepted;
        private int status;
        private final StringBuilder problem = new StringBuilder();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel linkChannel = ((Http2StreamChannel) ctx.channel()).parent();
            try {
                if (msg instanceof Http2HeadersFrame h && status == 0) {
                    status = h.headers().status() == null ? 0 : Integer.parseInt(h.headers().status().toString());
                    if (status == 200) {
                        CharSequence chosen = h.headers().get(Protocol.HEADER_PROTOCOL);
                        List<Integer> answer = ProtocolVersions.parse(chosen);
                        if (answer.size() != 1 || !offer.contains(answer.get(0))) {
                            state(linkChannel).fail("the gateway chose protocol version " + chosen + ", this agent offered "
                                    + ProtocolVersions.format(offer));
                            linkChannel.close();
                            return;
                        }
                        accepted = true;
                        LinkState s = state(linkChannel);
                        s.version = answer.get(0);
                        s.session = (Http2StreamChannel) ctx.channel();
                        ControlCodec.addDecoder(ctx.pipeline());
                        ctx.pipeline().addLast("control", new ControlHandler());
                        established(linkChannel, h.headers());
                        dialer.openStandby((Http2StreamChannel) ctx.channel(), Protocol.STANDBY_STREAMS);
                    }
                    if (h.isEndStream()) {
                        endSession(linkChannel);
                    }
                } else if (msg instanceof Http2DataFrame d) {
                    if (accepted) {
                        if (d.content().isReadable()) {
                            ctx.fireChannelRead(d.content().retain());
                        }
                    } else if (problem.length() < MAX_PROBLEM_BYTES) {
                        problem.append(d.content().toString(StandardCharsets.UTF_8));
                    }
                    if (d.isEndStream()) {
                        endSession(linkChannel);
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void endSession(Channel linkChannel) {
            if (status == 426) {
                fallBack(problem.toString());
            }
            state(linkChannel).fail(accepted
                    ? "the gateway ended the session"
                    : "the gateway refused the session: " + status + " " + problemDetail(problem.toString()));
            linkChannel.close();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) {
                Channel linkChannel = ((Http2StreamChannel) ctx.channel()).parent();
                state(linkChannel).fail("the gateway reset the session (" + reset.errorCode() + ")");
                linkChannel.close();
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            ((Http2StreamChannel) ctx.channel()).parent().close();
            ctx.fireChannelInactive();
        }
    }

    /** After a 426: offer only the highest version the gateway said it speaks, if this agent speaks it. */
    private void fallBack(String problem) {
        java.util.regex.Matcher m = GATEWAY_SPEAKS.matcher(problem);
        int common = m.find() ? ProtocolVersions.choose(Protocol.VERSIONS, ProtocolVersions.parse(m.group(1))) : 0;
        if (common != 0 && !offer.equals(List.of(common))) {
            offer = List.of(common);
            log.info("the gateway speaks protocol version {}: offering only that from now on", common);
        }
    }

    private void established(Channel ch, Http2Headers h) {
        // Reset the backoff only once the session has stayed up: a gateway that accepts and then
        // drops the session at once must not be hammered with reconnects.
        ch.eventLoop().schedule(() -> {
            if (ch.isActive()) {
                backoff.reset();
            }
        }, STABLE_SESSION.toMillis(), TimeUnit.MILLISECONDS);
        established.countDown();
        metrics.sessionUp(true);
        ch.closeFuture().addListener(f -> metrics.sessionUp(false));
        LinkState s = state(ch);
        long interval = config.heartbeatInterval().toMillis();
        s.heartbeat = ch.eventLoop().scheduleAtFixedRate(
                () -> ch.writeAndFlush(new DefaultHttp2PingFrame(System.nanoTime())), interval, interval, TimeUnit.MILLISECONDS);
        ch.closeFuture().addListener(f -> s.heartbeat.cancel(false));
        ch.closeFuture().addListener(f -> {
            offer = Protocol.VERSIONS;
            health.stopAll();
            s.draining.complete(null); // a drain waiting for the gateway's answer need not wait any more
        });
        log.info("session {} established with gateway {} as account {} ({} target(s) advertised, protocol version {})",
                h.get(Protocol.HEADER_SESSION), gateway, h.get(Protocol.HEADER_ACCOUNT), advertised.size(), s.version);
    }

    private static String problemDetail(String json) {
        try {
            var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
            if (node != null && node.hasNonNull("detail")) {
                return node.get("title").asText("") + ": " + node.get("detail").asText();
            }
        } catch (IOException notJson) {
            // fall through: show what the gateway sent
        }
        return json.length() > 200 ? json.substring(0, 200) : json;
    }

    private final class ControlHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Http2StreamChannel session = (Http2StreamChannel) ctx.channel();
            LinkState s = state(session.parent());
            switch ((ControlMessage) msg) {
                case ControlMessage.Open open -> dialer.open(session, open);
                case ControlMessage.HealthChecks c when s.version >= 2 -> health.replace(c.checks(),
                        h -> session.writeAndFlush(ControlCodec.frame(session.alloc(), h)));
                case ControlMessage.Draining d when s.version >= 2 -> {
                    if (d.reconnectMillis() != null && !closed) {
                        s.reconnectMillis = d.reconnectMillis();
                        log.info("gateway {} is stopping; once the link closes, reconnecting about every {} ms", gateway,
                                d.reconnectMillis());
                    }
                    s.draining.complete(null);
                }
                case ControlMessage m -> throw new IllegalArgumentException("control message: " + ControlCodec.typeOf(m)
                        + " (expected from the gateway in protocol version " + s.version + ": open"
                        + (s.version >= 2 ? ", healthChecks or draining)" : ")"));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            Channel linkChannel = ((Http2StreamChannel) ctx.channel()).parent();
            state(linkChannel).fail("bad control message from the gateway: " + Causes.root(cause));
            linkChannel.close();
        }
    }

    /** The gateway cannot open streams (server push is off); refuse any that appear. */
    private static final class RefuseInbound extends ChannelInboundHandlerAdapter {
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.close();
        }
    }

    private final class LinkHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                state(ctx.channel()).fail("no frame from the gateway within the heartbeat timeout ("
                        + config.heartbeatTimeout().toSeconds() + "s)");
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            state(ctx.channel()).fail(Causes.root(cause));
            ctx.close();
        }
    }


    /**
     * Stops taking new connections and lets live ones finish, up to the drain timeout: the
     * agent tells the gateway, which confirms once it routes nothing new here, and no longer
     * reconnects. {@link #close()} then ends what is left.
     */
    public void drain() throws InterruptedException {
        closed = true;
        Channel ch = link.get();
        LinkState s = ch == null ? null : state(ch);
        if (s == null || s.session == null || !ch.isActive()) {
            log.info("draining: no session, nothing to wait for");
            return;
        }
        if (s.version < 2) {
            log.warn("draining: the gateway speaks protocol version 1 and may still send connections");
        } else {
            s.session.writeAndFlush(ControlCodec.frame(s.session.alloc(), new ControlMessage.Drain("the agent is stopping")));
            try {
                s.draining.get(DRAIN_ANSWER.toMillis(), TimeUnit.MILLISECONDS);
                log.info("draining: the gateway routes no new connection here");
            } catch (TimeoutException | ExecutionException e) {
                log.warn("draining: the gateway did not confirm within {}s; waiting for live connections anyway",
                        DRAIN_ANSWER.toSeconds());
            }
        }
        Drain.await("agent", dialer::active, config.drainTimeout(), log);
    }

    @Override
    public void close() {
        closed = true;
        reconnects.close();
        health.close();
        if (ops != null) {
            ops.close();
        }
        Channel ch = link.get();
        if (ch != null) {
            ch.close().syncUninterruptibly();
        }
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
        resolver.shutdownNow();
        telemetry.close();
        log.info("agent stopped");
    }
}
