package dev.underpass.gateway.consumer;

import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.link.AgentRegistry;
import dev.underpass.gateway.link.AgentSession;
import dev.underpass.gateway.link.PendingConnection;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.StreamRelay;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The endpoint ports: a TCP socket bound for each service port of each available endpoint; each accepted consumer connection is handed to an agent
 * session that advertised one of the port's targets, as one stream.
 */
public final class EndpointPorts {
    /** How often one connection may be routed again because its session started draining. */
    private static final int MAX_ROUTING_ATTEMPTS = 3;
    /**
     * After the gateway starts, how long a consumer connection that finds no agent waits for one
     * instead of being reset: a restarted gateway's agents are back within about a second.
     */
    public static final Duration WAIT_FOR_AGENTS_AFTER_START = Duration.ofSeconds(5);

    private static final long WAIT_STEP_MILLIS = 100;
    /** Set on a peer node's relay stream: a connection relayed once is never relayed again. */
    private static final io.netty.util.AttributeKey<Boolean> RELAYED =
            io.netty.util.AttributeKey.valueOf("underpass.relayed");

    private final AgentRegistry registry;
    private final ConnectionEvents events;
    private final Duration dialTimeout;
    private final ConsumerLimit limit;
    private final AtomicLong connectionIds = new AtomicLong();
    private final long waitForAgentsUntil;
    private final Set<BoundPort> open = ConcurrentHashMap.newKeySet();
    /** The other nodes of the cluster; set once when the gateway starts (before any port opens). */
    private volatile PeerRoute peers = PeerRoute.NONE;

    /** One bound endpoint port and its live consumer connections. */
    public final class BoundPort {
        private final ChannelGroup connections;
        private volatile EndpointRoute route;
        private volatile boolean closed;
        private Channel server;

        private BoundPort(ChannelGroup connections, EndpointRoute route) {
            this.connections = connections;
            this.route = route;
        }

        InetSocketAddress address() {
            return (InetSocketAddress) server.localAddress();
        }

        public EndpointRoute route() {
            return route;
        }

        /** New connections follow {@code next} (a service's targets changed); live ones keep theirs. */
        public void route(EndpointRoute next) {
            route = next;
        }

        int connections() {
            return connections.size();
        }

        /**
         * Carries a consumer connection that reached this endpoint another way (the forward proxy)
         * as if it had connected here: it ends when the endpoint's listeners close. The socket
         * must not be reading.
         */
        public void adopt(Channel socket) {
            connections.add(socket);
            if (closed) { // closed while the proxy was answering: this connection ends with the rest
                StreamRelay.resetSocket(socket);
                return;
            }
            connect(route, socket, null);
        }

        /** Stops listening and resets every live connection, so consumers see the end at once. */
        public void close() {
            closed = true; // before the walk below: a connection adopted from now on sees it
            open.remove(this);
            server.close().syncUninterruptibly();
            for (Channel c : connections) {
                StreamRelay.resetSocket(c);
            }
        }
    }

    /** {@code waitForAgents}: from now, how long connections that find no agent wait for one ({@link #WAIT_FOR_AGENTS_AFTER_START}). */
    public EndpointPorts(
            AgentRegistry registry,
            Duration dialTimeout,
            ConnectionEvents events,
            ConsumerLimit limit,
            Duration waitForAgents) {
        this.waitForAgentsUntil = System.nanoTime() + waitForAgents.toNanos();
        this.limit = limit;
        this.events = events;
        this.registry = registry;
        this.dialTimeout = dialTimeout;
    }

    /** Lets connections that no local agent can carry go through peer nodes from now on. */
    public void peers(PeerRoute peers) {
        this.peers = java.util.Objects.requireNonNull(peers, "peers");
    }

    /** The open listener of {@code endpoint}'s {@code servicePort}, or null. */
    public BoundPort find(String endpoint, int servicePort) {
        for (BoundPort p : open) {
            EndpointRoute r = p.route();
            if (r.servicePort() == servicePort && r.endpoint().equals(endpoint) && !p.closed) {
                return p;
            }
        }
        return null;
    }

    /** The open listener of {@code account}'s endpoint to service {@code ref} ({@code provider/service}) at {@code servicePort}, or null. */
    public BoundPort findByService(String account, String ref, int servicePort) {
        for (BoundPort p : open) {
            EndpointRoute r = p.route();
            if (r.servicePort() == servicePort
                    && r.service().equals(ref)
                    && r.consumerAccount().equals(account)
                    && !p.closed) {
                return p;
            }
        }
        return null;
    }

    /**
     * Carries a peer node's relay stream (adapted with {@code StreamSocket}) to one of this
     * node's agents as a connection of {@code port}: it ends when the port closes. A connection
     * relayed once is never relayed again, so that nodes cannot pass one round in a loop.
     */
    public void carryFromPeer(BoundPort port, Http2StreamChannel stream) {
        stream.attr(RELAYED).set(Boolean.TRUE);
        port.connections.add(stream);
        connect(connectionIds.incrementAndGet(), port.route(), stream, 1, null);
    }

    /**
     * Carries an agent's connect stream (adapted with {@code StreamSocket}) from one of its
     * listeners as a consumer connection of {@code port}, within the consumer account's budget of
     * connections through agent listeners: it ends when the port closes (the endpoint rejected or
     * deleted), and may go through a peer node like a connection that came in on the port.
     */
    public void carryFromAgent(BoundPort port, Http2StreamChannel stream) {
        port.connections.add(stream);
        if (port.closed) {
            StreamRelay.resetSocket(stream);
            return;
        }
        EndpointRoute route = port.route();
        if (!limit.admit(stream, route.consumerAccount(), ConsumerLimit.Entrance.AGENT)) {
            events.refused(
                    connectionIds.incrementAndGet(),
                    route,
                    stream,
                    "limit",
                    "the consumer account has too many connections");
            StreamRelay.resetSocket(stream);
            return;
        }
        connect(connectionIds.incrementAndGet(), route, stream, 1, null);
    }

    /** Binds one endpoint port; throws if the address is taken. */
    public BoundPort bind(EventLoopGroup group, InetSocketAddress address, EndpointRoute route)
            throws InterruptedException {
        EventLoop loop = group.next();
        BoundPort listener = new BoundPort(new DefaultChannelGroup(loop), route);
        listener.server = new ServerBootstrap()
                .group(loop, loop)
                .channel(Transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 4096)
                .handler(new Acceptor(listener))
                // Never reached: the Acceptor takes each accepted socket before Netty's acceptor would.
                .childHandler(new ChannelInboundHandlerAdapter())
                .bind(address)
                .sync()
                .channel();
        open.add(listener);
        return listener;
    }

    /** Stops accepting on every endpoint port; live connections go on (the gateway drains). */
    public void stopAccepting() {
        for (BoundPort l : open) {
            l.server.close().syncUninterruptibly();
        }
    }

    /** Live consumer connections on every endpoint port, those adopted from the proxy included. */
    public int connectionCount() {
        return open.stream().mapToInt(BoundPort::connections).sum();
    }

    /** Closes every listener and its connections (the gateway is stopping). */
    public void close() {
        for (BoundPort l : List.copyOf(open)) {
            l.close();
        }
    }

    /**
     * Takes each socket the port accepts and registers it on the event loop of the agent link it
     * is routed to, so that its relay runs on one thread from the start: registering it on the
     * listener's loop and moving it afterwards costs two epoll changes and a wake-up of the other
     * loop per connection (measured: about a fifth of the connection rate on 2 cores).
     */
    private final class Acceptor extends ChannelInboundHandlerAdapter {
        private final BoundPort port;

        Acceptor(BoundPort port) {
            this.port = port;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel socket = (Channel) msg;
            EndpointRoute route = port.route();
            AgentRegistry.Choice choice = registry.choose(route);
            EventLoop loop = choice.session() == null
                    ? ctx.channel().eventLoop()
                    : choice.session().link().eventLoop();
            socket.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            socket.config().setOption(ChannelOption.TCP_NODELAY, true);
            // Should the gateway die, the consumer sees a reset, never a clean end (StreamRelay, "Process death").
            socket.config().setOption(ChannelOption.SO_LINGER, 0);
            // Set on the channel, not as an option before registration: with epoll that left sockets
            // unregistered for reads, and the first read() failed with ENOENT.
            socket.config().setAutoRead(false);
            socket.pipeline().addLast(new Accept(route, choice));
            loop.register(socket).addListener(r -> {
                if (!r.isSuccess()) {
                    socket.unsafe().closeForcibly();
                }
            });
            // Once it has its event loop, so that close() can reset it; close() waits for the
            // server channel, whose loop this is, so it sees every socket accepted before.
            port.connections.add(socket);
        }
    }

    /** Starts routing an accepted socket once it is registered, with the choice made at accept. */
    private final class Accept extends ChannelInboundHandlerAdapter {
        private final EndpointRoute route;
        private final AgentRegistry.Choice choice;

        Accept(EndpointRoute route, AgentRegistry.Choice choice) {
            this.route = route;
            this.choice = choice;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.pipeline().remove(this);
            connect(route, ctx.channel(), choice);
            ctx.fireChannelActive();
        }
    }

    /** {@code chosen}: the session chosen when the socket was accepted, or null to choose now. */
    private void connect(EndpointRoute route, Channel socket, AgentRegistry.Choice chosen) {
        if (!limit.admit(socket, route.consumerAccount(), ConsumerLimit.Entrance.NETWORK)) {
            events.refused(
                    connectionIds.incrementAndGet(),
                    route,
                    socket,
                    "limit",
                    "the consumer account has too many connections");
            StreamRelay.resetSocket(socket);
            return;
        }
        connect(connectionIds.incrementAndGet(), route, socket, 1, chosen);
    }

    /**
     * Routes a connection to an agent session. A session that started draining before the socket
     * reached its event loop is skipped, and the choice made again (a few times at most).
     */
    private void connect(long id, EndpointRoute route, Channel socket, int attempt, AgentRegistry.Choice chosen) {
        AgentRegistry.Choice choice = chosen != null ? chosen : registry.choose(route);
        if (attempt == 1 && !socket.hasAttr(RELAYED) && throughPeer(id, route, socket, choice)) {
            return;
        }
        if (choice.session() == null && System.nanoTime() - waitForAgentsUntil < 0 && socket.isActive()) {
            // Just started: the agents are on their way back. The consumer waits a moment rather than being reset.
            socket.eventLoop()
                    .schedule(() -> connect(id, route, socket, attempt, null), WAIT_STEP_MILLIS, TimeUnit.MILLISECONDS);
            return;
        }
        if (choice.session() == null || attempt > MAX_ROUTING_ATTEMPTS) {
            events.refused(
                    id,
                    route,
                    socket,
                    choice.session() == null ? choice.kind() : "draining",
                    choice.session() == null ? choice.refusal() : "every agent chosen started draining");
            StreamRelay.resetSocket(socket);
            return;
        }
        AgentSession session = choice.session();
        session.routed();
        EventLoop linkLoop = session.link().eventLoop();
        if (socket.eventLoop() == linkLoop) {
            open(id, route, choice, socket, attempt);
            return;
        }
        if (socket instanceof Http2StreamChannel) {
            // A peer node's or an agent's stream stays on its link's loop; the relay works across the two loops.
            linkLoop.execute(() -> open(id, route, choice, socket, attempt));
            return;
        }
        // Move the socket to its agent link's event loop (it was accepted for another session, or
        // came from the proxy): the relay then runs on one thread, with no hand-over between
        // threads for each chunk (measured: lower latency, more conn/s).
        socket.deregister()
                .addListener(d -> linkLoop.register(socket).addListener(r -> {
                    if (r.isSuccess()) {
                        open(id, route, choice, socket, attempt);
                    } else {
                        session.unrouted();
                        GatewayLog.CONNECTIONS.warn(
                                "connection {} endpoint={} failed: cannot move to the agent link's event loop: {}",
                                id,
                                route.endpoint(),
                                r.cause().toString());
                        StreamRelay.resetSocket(socket);
                    }
                }));
    }

    /**
     * Sends a connection through a peer node when that is better than what this node has: no
     * agent here, or only ones that find every target unhealthy while a peer's find one healthy
     * (health is merged across nodes). False when it stays here.
     */
    private boolean throughPeer(long id, EndpointRoute route, Channel socket, AgentRegistry.Choice choice) {
        PeerRoute p = peers;
        if (choice.session() != null && choice.healthy()) {
            return false;
        }
        boolean healthy = p.serves(route, true);
        if (!healthy && !(choice.session() == null && route.failOpen() && p.serves(route, false))) {
            return false;
        }
        p.carry(id, route, socket, healthy, System.nanoTime());
        return true;
    }

    private void open(long id, EndpointRoute route, AgentRegistry.Choice choice, Channel socket, int attempt) {
        AgentSession session = choice.session();
        if (session.draining() || !session.link().isActive()) {
            session.unrouted();
            connect(id, route, socket, attempt + 1, null);
            return;
        }
        if (session.assignStandby(id, route, choice.target(), socket, System.nanoTime())) {
            return; // the fast way: a stream is already open, the consumer's bytes go with the answer
        }
        PendingConnection p = new PendingConnection(id, route, choice.target(), socket);
        p.timeout(socket.eventLoop()
                .schedule(
                        () -> session.fail(
                                id,
                                "gateway_timeout",
                                "the agent did not open the stream within " + dialTimeout.toSeconds() + "s"),
                        dialTimeout.toMillis(),
                        TimeUnit.MILLISECONDS));
        socket.closeFuture().addListener(f -> session.fail(id, null, "consumer closed before the stream opened"));
        session.open(p);
    }
}
