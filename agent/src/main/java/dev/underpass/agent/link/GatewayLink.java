package dev.underpass.agent.link;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.agent.health.HealthChecker;
import dev.underpass.agent.metrics.AgentMetrics;
import dev.underpass.agent.target.TargetDialer;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.ProtocolVersions;
import dev.underpass.protocol.Transport;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.resolver.NoopAddressResolverGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's link to the gateway: keeps one session up (heartbeats, reconnect with backoff and
 * jitter), hands the gateway's requests to the {@link TargetDialer} and its health checks to the
 * {@link HealthChecker}.
 *
 * <h2>Lifecycle</h2>
 * {@link #start()} connects in the background and reconnects until {@link #drain()} or
 * {@link #close()}. Each link goes TCP (through the egress proxy if any), TLS 1.3 with the
 * gateway verified, ALPN h2 ({@link LinkInitializer}, {@link Alpn}), then a session stream
 * ({@link SessionHandler}) carrying the agent token (or, with OIDC workload identity, the identity
 * and the JWT read afresh from its file) and the advertised targets; once accepted, the gateway's
 * control messages go to {@link ControlHandler}. Why a link ended is kept in its {@link LinkState}
 * and logged with the reconnect.
 *
 * <h2>Protocol versions</h2>
 * A session request offers every version this agent speaks, or, after an older gateway's 426,
 * only the highest one it named; back to every version once a session ends, so that an upgraded
 * gateway is noticed.
 */
public final class GatewayLink implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent");
    /** A session that lasted this long resets the reconnect backoff. */
    static final Duration STABLE_SESSION = Duration.ofSeconds(10);
    /** How long a draining agent waits for the gateway to confirm. */
    private static final Duration DRAIN_ANSWER = Duration.ofSeconds(5);
    /** The end of a 426's detail: "..., gateway speaks 2, 1". */
    private static final Pattern GATEWAY_SPEAKS = Pattern.compile("gateway speaks ([0-9]+(?:, ?[0-9]+)*)");

    private final AgentConfig config;
    private final HostAndPort gateway;
    private final String name;
    private final String token;
    private final SslContext ssl;
    private final AgentConfig.ProxySettings proxy;
    private final ControlMessage.Advertise advertise;
    private final TargetDialer dialer;
    private final HealthChecker health;
    private final AgentMetrics metrics;
    private final EventLoopGroup group = Transport.group("underpass-agent");
    private final Backoff backoff = new Backoff(Backoff.DEFAULT_INITIAL, Backoff.DEFAULT_MAX);
    /** Reconnect lines, one per reason and interval while the gateway stays away. */
    private final RepeatedEvents reconnects = new RepeatedEvents(log, RepeatedEvents.DEFAULT_INTERVAL, 100, group);

    /** Told the gateway's word on this agent's listeners (protocol version 3). */
    private final Consumer<ControlMessage.Listeners> onListeners;

    /** Told the gateway's nodes, the answering one first, at every session (docs/cluster.md). */
    private final Consumer<List<HostAndPort>> onNodes;

    private final AtomicReference<Channel> link = new AtomicReference<>();
    /** Since when this link has had no session (System.nanoTime), or 0 while it has one. */
    private volatile long downSince = System.nanoTime();

    private volatile CountDownLatch established = new CountDownLatch(1);
    private volatile boolean closed;
    /** What the next session request offers (see "Protocol versions"). */
    private volatile List<Integer> offer = Protocol.VERSIONS;

    /**
     * A link to one address of {@code config}'s gateway, not yet connecting.
     *
     * @param gateway   where to dial: the configured address, or one node of a cluster
     * @param onNodes   told the gateway's nodes (the answering one first) whenever a session starts
     * @param name      the name the gateway shows for this agent
     * @param token     the agent token; null for another credential
     * @param ssl       the TLS client context: gateway trust and, when enrolled, the client certificate
     * @param proxy     the egress proxy; null to dial the gateway directly
     * @param advertise what every session announces: this agent's version, its targets and listeners
     * @param onListeners told the gateway's word on this agent's listeners
     */
    public GatewayLink(
            AgentConfig config,
            HostAndPort gateway,
            Consumer<List<HostAndPort>> onNodes,
            String name,
            String token,
            SslContext ssl,
            AgentConfig.ProxySettings proxy,
            ControlMessage.Advertise advertise,
            TargetDialer dialer,
            HealthChecker health,
            Consumer<ControlMessage.Listeners> onListeners,
            AgentMetrics metrics) {
        this.onListeners = Objects.requireNonNull(onListeners, "onListeners");
        this.config = Objects.requireNonNull(config, "config");
        this.gateway = Objects.requireNonNull(gateway, "gateway");
        this.onNodes = Objects.requireNonNull(onNodes, "onNodes");
        this.name = Objects.requireNonNull(name, "name");
        this.token = token;
        this.ssl = Objects.requireNonNull(ssl, "ssl");
        this.proxy = proxy;
        this.advertise = Objects.requireNonNull(advertise, "advertise");
        this.dialer = Objects.requireNonNull(dialer, "dialer");
        this.health = Objects.requireNonNull(health, "health");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
    }

    /** Connects in the background, and again whenever the link ends, until {@link #drain()} or {@link #close()}. */
    public void start() {
        group.execute(this::connect);
    }

    /** Waits until a session is established. */
    public boolean awaitSession(Duration timeout) throws InterruptedException {
        return established.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Whether a session with the gateway is established now. */
    public boolean hasSession() {
        return established.getCount() == 0;
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
            } catch (RejectedExecutionException stopped) {
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
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int)
                        config.dialTimeout().toMillis())
                .handler(
                        new LinkInitializer(bearer, ssl, gateway, proxy, config.heartbeatTimeout(), this::openSession));
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
                        LinkState s = LinkState.of(ch);
                        if (s != null && s.reconnectMillis != null) {
                            backoff.quick(Duration.ofMillis(Math.clamp(s.reconnectMillis, 100, 60_000)));
                        }
                        retry(s == null ? "link closed" : s.reason(), false);
                    });
                });
    }

    /** A connection the gateway's host refused: it is up, but nothing listens (yet): a restart, most often. */
    private static boolean refused(Throwable cause) {
        return cause instanceof java.net.ConnectException
                && !(cause instanceof io.netty.channel.ConnectTimeoutException)
                && String.valueOf(cause.getMessage()).toLowerCase(Locale.ROOT).contains("refused");
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

    /** Opens the session stream on a link that speaks HTTP/2 and sends the session request. */
    private void openSession(Channel ch) {
        List<Integer> offered = offer;
        new Http2StreamChannelBootstrap(ch)
                .handler(new SessionHandler(offered, this))
                .open()
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        LinkState.of(ch).fail("cannot open the session stream: " + Causes.root(f.cause()));
                        ch.close();
                        return;
                    }
                    Http2StreamChannel s = (Http2StreamChannel) f.getNow();
                    Http2Headers h = new DefaultHttp2Headers()
                            .method("POST")
                            .path(Protocol.SESSION_PATH)
                            .scheme("https")
                            .authority(gateway.toString());
                    String bearer = LinkState.of(ch).bearer;
                    if (bearer != null) { // an agent with a client certificate presented it in the TLS handshake
                        h.set("authorization", "Bearer " + bearer);
                    }
                    if (config.usesIdentity()) {
                        h.set(Protocol.HEADER_IDENTITY, config.identity());
                    }
                    h.set(Protocol.HEADER_PROTOCOL, ProtocolVersions.format(offered));
                    h.set(Protocol.HEADER_AGENT, name);
                    h.set("content-type", Protocol.CONTENT_TYPE_NDJSON);
                    s.write(new DefaultHttp2HeadersFrame(h));
                    s.writeAndFlush(ControlCodec.frame(s.alloc(), advertise));
                });
    }

    /** The gateway accepted the session on {@code session} with protocol {@code version}: control messages from now on. */
    void accepted(Http2StreamChannel session, int version, Http2Headers h) {
        Channel ch = session.parent();
        LinkState s = LinkState.of(ch);
        s.version = version;
        s.session = session;
        ControlCodec.addDecoder(session.pipeline());
        session.pipeline().addLast("control", new ControlHandler(dialer, health, onListeners, gateway, () -> closed));
        established(ch, h);
        dialer.openStandby(session);
    }

    /** After a 426: offer only the highest version the gateway said it speaks, if this agent speaks it. */
    void fallBack(String problem) {
        Matcher m = GATEWAY_SPEAKS.matcher(problem);
        int common = m.find() ? ProtocolVersions.choose(Protocol.VERSIONS, ProtocolVersions.parse(m.group(1))) : 0;
        if (common != 0 && !offer.equals(List.of(common))) {
            offer = List.of(common);
            log.info("the gateway speaks protocol version {}: offering only that from now on", common);
        }
    }

    private void established(Channel ch, Http2Headers h) {
        // Reset the backoff only once the session has stayed up: a gateway that accepts and then
        // drops the session at once must not be hammered with reconnects.
        ch.eventLoop()
                .schedule(
                        () -> {
                            if (ch.isActive()) {
                                backoff.reset();
                            }
                        },
                        STABLE_SESSION.toMillis(),
                        TimeUnit.MILLISECONDS);
        established.countDown();
        downSince = 0;
        metrics.sessionUp(true);
        ch.closeFuture().addListener(f -> {
            metrics.sessionUp(false);
            downSince = System.nanoTime();
        });
        LinkState s = LinkState.of(ch);
        long interval = config.heartbeatInterval().toMillis();
        s.heartbeat = ch.eventLoop()
                .scheduleAtFixedRate(
                        () -> ch.writeAndFlush(new DefaultHttp2PingFrame(System.nanoTime())),
                        interval,
                        interval,
                        TimeUnit.MILLISECONDS);
        ch.closeFuture().addListener(f -> s.heartbeat.cancel(false));
        ch.closeFuture().addListener(f -> {
            offer = Protocol.VERSIONS;
            health.stopAll();
            s.draining.complete(null); // a drain waiting for the gateway's answer need not wait any more
        });
        CharSequence nodes = h.get(Protocol.HEADER_NODES);
        if (nodes != null) {
            onNodes.accept(parseNodes(nodes.toString()));
        }
        log.info(
                "session {} established with gateway {} as account {} ({} target(s) advertised, protocol version {})",
                h.get(Protocol.HEADER_SESSION),
                gateway,
                h.get(Protocol.HEADER_ACCOUNT),
                advertise.targets().size(),
                s.version);
    }

    /** The node addresses of a session answer; what does not parse is left out, with a log line. */
    static List<HostAndPort> parseNodes(String header) {
        List<HostAndPort> nodes = new java.util.ArrayList<>();
        for (String part : header.split(",")) {
            try {
                nodes.add(HostAndPort.parseDialable(part.trim()));
            } catch (IllegalArgumentException e) {
                log.warn("the gateway named a node address that is not host:port, ignored: {}", part);
            }
        }
        return List.copyOf(nodes);
    }

    /**
     * This link's session stream, if it has one of protocol version {@code minVersion} or newer
     * and is not moving off (draining, retiring); else null.
     */
    public Http2StreamChannel session(int minVersion) {
        Channel ch = link.get();
        LinkState s = ch == null || closed ? null : LinkState.of(ch);
        return s != null && s.session != null && s.session.isActive() && s.version >= minVersion ? s.session : null;
    }

    /** Where this link dials. */
    public HostAndPort address() {
        return gateway;
    }

    /** How long this link has been without a session (zero while it has one). */
    public Duration down() {
        long since = downSince;
        return since == 0 ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - since);
    }

    /**
     * Stops reconnecting and tells the gateway, which confirms once it routes nothing new here;
     * waits for that answer up to {@link #DRAIN_ANSWER}.
     *
     * @return false when there is no session, so no connection to wait for
     */
    public boolean drain() throws InterruptedException {
        closed = true;
        Channel ch = link.get();
        LinkState s = ch == null ? null : LinkState.of(ch);
        if (s == null || s.session == null || !ch.isActive()) {
            log.info("draining: no session, nothing to wait for");
            return false;
        }
        if (s.version < 2) {
            log.warn("draining: the gateway speaks protocol version 1 and may still send connections");
            return true;
        }
        s.session.writeAndFlush(
                ControlCodec.frame(s.session.alloc(), new ControlMessage.Drain("the agent is stopping")));
        try {
            s.draining.get(DRAIN_ANSWER.toMillis(), TimeUnit.MILLISECONDS);
            log.info("draining: the gateway routes no new connection here");
        } catch (TimeoutException | ExecutionException e) {
            log.warn(
                    "draining: the gateway did not confirm within {}s; waiting for live connections anyway",
                    DRAIN_ANSWER.toSeconds());
        }
        return true;
    }

    /**
     * Starts moving off this link without cutting a connection: it no longer reconnects, and the
     * gateway routes nothing new to it; {@link #busy()} then says when its connections have ended.
     */
    public void retire(String why) {
        closed = true;
        Channel ch = link.get();
        LinkState s = ch == null ? null : LinkState.of(ch);
        if (s != null && s.session != null && s.version >= 2 && ch.isActive()) {
            s.session.writeAndFlush(ControlCodec.frame(s.session.alloc(), new ControlMessage.Drain(why)));
        }
    }

    /**
     * Whether this link still carries connections: data streams the gateway answered (standby
     * streams waiting for a connection do not count). Asked from outside the link's event loop.
     */
    public boolean busy() {
        Channel ch = link.get();
        if (ch == null || !ch.isActive()) {
            return false;
        }
        try {
            return ch.eventLoop()
                    .submit(() -> {
                        Http2FrameCodec codec = ch.pipeline().get(Http2FrameCodec.class);
                        if (codec == null) {
                            return false;
                        }
                        int[] answered = {0};
                        codec.connection().forEachActiveStream(stream -> {
                            if (stream.isHeadersReceived()) {
                                answered[0]++;
                            }
                            return true;
                        });
                        return answered[0] > 1; // the session stream is one
                    })
                    .get(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (ExecutionException | TimeoutException | RejectedExecutionException e) {
            return false;
        }
    }

    /** Ends the link and stops reconnecting. */
    @Override
    public void close() {
        closed = true;
        reconnects.close();
        Channel ch = link.get();
        if (ch != null) {
            ch.close().syncUninterruptibly();
        }
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
        health.close();
    }
}
