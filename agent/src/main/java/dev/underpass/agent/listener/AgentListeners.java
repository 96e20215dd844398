package dev.underpass.agent.listener;

import dev.underpass.agent.config.ListenerSpec;
import dev.underpass.protocol.AnswerCheck;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.StreamRelay;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Agent listeners (bidirectional, protocol version 3): local addresses from the agent's own file
 * where the customer's clients reach an endpoint of the agent's account. A listener opens when the
 * gateway says its endpoint takes connections, and closes, resetting its live connections, when
 * the gateway says it no longer does (rejected, deleted). The file is authoritative: a listener
 * the gateway names that the file does not list is ignored, so a gateway cannot make this agent
 * listen anywhere else. Each accepted connection is one connect stream on a session, carried byte
 * for byte (half-close, reset, flow control) as a target's connection is.
 */
public final class AgentListeners implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent");

    private final Map<String, ListenerSpec> byKey = new LinkedHashMap<>();
    private final Supplier<Http2StreamChannel> sessions;
    private final String authority;
    private final EventLoopGroup group = Transport.group("underpass-listeners");
    /** How often a listener that cannot bind (a taken address, one not yet on the host) tries again. */
    static final Duration BIND_RETRY = Duration.ofSeconds(5);

    /** Opens and closes listeners in the order the gateway's words came, off every event loop (binding waits). */
    private final ScheduledExecutorService changes = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("underpass-listener-changes").daemon().factory());
    /** Open listeners by key (endpoint:port); guarded by this. */
    private final Map<String, Open> open = new HashMap<>();
    /** Listeners that should be open (the gateway said so, or a forward proxy), bound or not yet; guarded by this. */
    private final Set<String> wanted = new HashSet<>();
    /** Wanted listeners whose last bind failed, warned about once; guarded by this. */
    private final Set<String> failing = new HashSet<>();
    /** Wanted listeners with a bind retry scheduled; guarded by this. */
    private final Set<String> retrying = new HashSet<>();
    /** Keys the gateway named that the file does not list, warned about once each. */
    private final Set<String> ignored = ConcurrentHashMap.newKeySet();

    private boolean closed;

    /** One bound listener and its live connections. */
    private record Open(Channel server, ChannelGroup connections) {}

    /**
     * @param specs     the listeners of the agent's file
     * @param sessions  a session to open a connect stream on (of protocol version 3), or null while none is up
     * @param authority the gateway's host:port, for the streams' {@code :authority}
     */
    public AgentListeners(List<ListenerSpec> specs, Supplier<Http2StreamChannel> sessions, String authority) {
        for (ListenerSpec s : specs) {
            byKey.put(s.key(), s);
        }
        this.sessions = sessions;
        this.authority = authority;
    }

    /** Opens the forward proxies of the agent's file: they need no word from the gateway. */
    public void start() {
        for (ListenerSpec s : byKey.values()) {
            if (s.proxy()) {
                changes.execute(() -> open(s));
            }
        }
    }

    /** What the agent advertises: each listener of its file but its forward proxies. */
    public List<ControlMessage.Listener> advertised() {
        return byKey.values().stream()
                .filter(s -> !s.proxy())
                .map(s ->
                        new ControlMessage.Listener(s.address().toString(), s.endpoint(), s.servicePort(), null, null))
                .toList();
    }

    /** The gateway's word on which listeners take connections now; called on a link's event loop, never blocks. */
    public void update(ControlMessage.Listeners states) {
        try {
            changes.execute(() -> apply(states));
        } catch (java.util.concurrent.RejectedExecutionException stopping) {
            // the agent is stopping: its listeners are closing anyway
        }
    }

    private void apply(ControlMessage.Listeners states) {
        for (ControlMessage.Listener l : states.listeners()) {
            String key = l.endpoint() + ":" + l.port();
            ListenerSpec spec = byKey.get(key);
            if (spec == null) {
                if (ignored.add(key)) {
                    log.warn("the gateway named listener {} that this agent's file does not list: ignored", key);
                }
            } else if (Boolean.TRUE.equals(l.open())) {
                open(spec);
            } else {
                close(spec, l.reason() == null ? "the gateway closed it" : l.reason());
            }
        }
    }

    private synchronized void open(ListenerSpec spec) {
        if (closed || open.containsKey(spec.key())) {
            return;
        }
        wanted.add(spec.key());
        ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
        Channel server;
        try {
            server = new ServerBootstrap()
                    .group(group)
                    .channel(Transport.serverChannel())
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel socket) {
                            connections.add(socket);
                            if (spec.proxy()) {
                                socket.config().setAutoRead(true); // the client's request first
                                socket.pipeline()
                                        .addLast(new ProxyFront(
                                                AgentListeners.this, spec, ProxyFront.HANDSHAKE_SECONDS));
                            } else {
                                socket.pipeline().addLast(new Accepted(spec));
                            }
                        }
                    })
                    .bind(new InetSocketAddress(
                            spec.address().host(), spec.address().port()))
                    .syncUninterruptibly()
                    .channel();
        } catch (Exception e) { // syncUninterruptibly throws the bind's IOException undeclared
            // A taken address, or one the host does not have yet: said once, tried again while wanted.
            if (failing.add(spec.key())) {
                log.warn(
                        "agent listener {} cannot listen: {}; trying again every {}s",
                        spec,
                        Causes.root(e),
                        BIND_RETRY.toSeconds());
            }
            if (retrying.add(spec.key())) {
                changes.schedule(() -> retry(spec), BIND_RETRY.toMillis(), TimeUnit.MILLISECONDS);
            }
            return;
        }
        failing.remove(spec.key());
        open.put(spec.key(), new Open(server, connections));
        log.info("agent listener {} listening on {}", spec, server.localAddress());
    }

    private synchronized void retry(ListenerSpec spec) {
        retrying.remove(spec.key());
        if (wanted.contains(spec.key())) {
            open(spec);
        }
    }

    private synchronized void close(ListenerSpec spec, String why) {
        wanted.remove(spec.key());
        failing.remove(spec.key());
        Open o = open.remove(spec.key());
        if (o == null) {
            return;
        }
        o.server().close();
        int live = o.connections().size();
        for (Channel c : o.connections()) {
            StreamRelay.resetSocket(c);
        }
        log.info("agent listener {} closed ({}); {} live connection(s) reset", spec, why, live);
    }

    /** The agent is draining: no listener accepts from now on; live connections go on. */
    public synchronized void stopAccepting() {
        closed = true;
        for (Open o : open.values()) {
            o.server().close();
        }
    }

    /** Live connections on every listener, for the drain to wait on. */
    public synchronized int active() {
        return open.values().stream().mapToInt(o -> o.connections().size()).sum();
    }

    /** Carries one accepted connection on a connect stream to the listener's endpoint, once the socket is registered. */
    private final class Accepted extends ChannelInboundHandlerAdapter {
        private final ListenerSpec spec;

        Accepted(ListenerSpec spec) {
            this.spec = spec;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.pipeline().remove(this);
            Channel socket = ctx.channel();
            connect(
                    spec.toString(),
                    socket,
                    h -> {
                        h.set(Protocol.HEADER_ENDPOINT, spec.endpoint());
                        h.set(Protocol.HEADER_SERVICE_PORT, Integer.toString(spec.servicePort()));
                    },
                    what -> {
                        log.warn(
                                "agent listener {}: connection from {} refused by the gateway: {}",
                                spec,
                                socket.remoteAddress(),
                                what);
                        StreamRelay.resetSocket(socket);
                    });
        }
    }

    /**
     * Opens a connect stream for {@code socket} (not reading) on a session, with the request
     * headers {@code names} adds, and relays it; {@code answer} hears the gateway's answer.
     * Without a session the socket is reset.
     */
    void connect(String listener, Channel socket, Consumer<Http2Headers> names, AnswerCheck.Outcome answer) {
        carry(listener, socket, names, answer, true);
    }

    /**
     * As {@link #connect}, but relays only once the gateway has answered 200, so that
     * {@code answer} can reply to a proxy client first; a refusal leaves the socket to it.
     */
    void connectAfterAnswer(String listener, Channel socket, Consumer<Http2Headers> names, AnswerCheck.Outcome answer) {
        carry(listener, socket, names, answer, false);
    }

    private void carry(
            String listener, Channel socket, Consumer<Http2Headers> names, AnswerCheck.Outcome answer, boolean now) {
        StreamRelay.resetOnProcessDeath(socket);
        Http2StreamChannel session = sessions.get();
        if (session == null) {
            log.warn(
                    "agent listener {}: connection from {} refused: no session with the gateway",
                    listener,
                    socket.remoteAddress());
            answer.refused("no session with the gateway");
            return;
        }
        java.util.concurrent.atomic.AtomicReference<Http2StreamChannel> opened =
                new java.util.concurrent.atomic.AtomicReference<>();
        AnswerCheck.Outcome checked = now
                ? answer
                : new AnswerCheck.Outcome() {
                    @Override
                    public void accepted() {
                        answer.accepted();
                        relay(listener, socket, opened.get());
                    }

                    @Override
                    public void refused(String what) {
                        answer.refused(what);
                    }
                };
        new Http2StreamChannelBootstrap(session.parent())
                .option(ChannelOption.AUTO_READ, false)
                .handler(new AnswerCheck(checked))
                .open()
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        log.warn("agent listener {}: cannot open a stream: {}", listener, Causes.root(f.cause()));
                        StreamRelay.resetSocket(socket);
                        return;
                    }
                    Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
                    opened.set(stream);
                    Http2Headers h = new DefaultHttp2Headers()
                            .method("POST")
                            .path(Protocol.CONNECT_PATH)
                            .scheme("https")
                            .authority(authority);
                    names.accept(h);
                    h.set(Protocol.HEADER_CLIENT, String.valueOf(socket.remoteAddress()));
                    stream.writeAndFlush(new DefaultHttp2HeadersFrame(h));
                    if (now) {
                        relay(listener, socket, stream);
                    } else {
                        stream.read(); // the answer; the relay starts after it
                        // A client that leaves before the answer takes the stream with it.
                        socket.closeFuture().addListener(c -> {
                            if (stream.pipeline().get(AnswerCheck.class) != null) {
                                stream.close();
                            }
                        });
                    }
                });
    }

    private static void relay(String listener, Channel socket, Http2StreamChannel stream) {
        StreamRelay.start(
                socket,
                stream,
                (relay, outcome, detail) -> log.info(
                        "agent listener {} connection from {} closed: {}{} sent={} received={} duration={}ms",
                        listener,
                        socket.remoteAddress(),
                        outcome,
                        detail == null ? "" : " (" + detail + ")",
                        relay.bytesFromSocket(),
                        relay.bytesFromStream(),
                        relay.elapsed().toMillis()));
    }

    @Override
    public void close() {
        changes.shutdownNow();
        synchronized (this) {
            closed = true;
            for (String key : List.copyOf(open.keySet())) {
                close(byKey.get(key), "the agent is stopping");
            }
        }
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
