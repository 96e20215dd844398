package dev.underpass.gateway.link;

import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.controlplane.credential.AgentIdentities;
import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.StreamRelay;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.net.SocketAddress;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One authenticated agent connection: who it is, the targets it advertised, its control stream,
 * the consumer connections waiting for it to open their data streams, and its standby streams.
 */
public final class AgentSession {
    private final long id;
    private final String account;
    private final String tokenId;
    private final String tokenName;
    private final String agentName;
    private final Channel link;
    private final Http2StreamChannel control;
    private final Instant since = Instant.now();
    private final Map<Long, PendingConnection> pending = new ConcurrentHashMap<>();
    // Connections given to standby streams, until they end: a dialFailed may still come for them.
    private final Map<Long, Assigned> assigned = new ConcurrentHashMap<>();
    // The link's event loop only (the dispatcher and the endpoint listeners run there).
    private final ArrayDeque<Http2StreamChannel> standby = new ArrayDeque<>();
    private volatile Set<HostAndPort> targets = Set.of();
    /** The agent listeners the agent's file lists (version 3), as it advertised them. */
    private volatile List<ControlMessage.Listener> listeners = List.of();
    /** What the agent was last told of its listeners; null before the first time. */
    private volatile List<ControlMessage.Listener> listenerStates;
    /** Longest health reason kept and shown; an agent may send more. */
    private static final int MAX_REASON = 256;

    private final int version;
    private final ConnectionEvents events;
    // Connections routed to this session and not ended yet: pending, dialling or relaying.
    private final AtomicInteger outstanding = new AtomicInteger();
    private volatile boolean draining;
    /** The health checks last sent to the agent, by id. */
    private volatile Map<String, ControlMessage.Check> checks = Map.of();
    /** The agent's latest verdict per check id; a check without one is still initial. */
    private final Map<String, TargetHealth> health = new ConcurrentHashMap<>();

    AgentSession(
            long id,
            String account,
            String tokenId,
            String tokenName,
            String agentName,
            Channel link,
            Http2StreamChannel control,
            int version,
            ConnectionEvents events) {
        this.version = version;
        this.events = events;
        this.id = id;
        this.account = account;
        this.tokenId = tokenId;
        this.tokenName = tokenName;
        this.agentName = agentName;
        this.link = link;
        this.control = control;
    }

    public long id() {
        return id;
    }

    public String account() {
        return account;
    }

    public Channel link() {
        return link;
    }

    Instant since() {
        return since;
    }

    SocketAddress remoteAddress() {
        return link.remoteAddress();
    }

    void advertised(Set<HostAndPort> targets) {
        this.targets = Set.copyOf(targets);
    }

    Set<HostAndPort> targets() {
        return targets;
    }

    void advertisedListeners(List<ControlMessage.Listener> declared) {
        this.listeners = List.copyOf(declared);
    }

    /** The agent listeners its file lists, as advertised (version 3; empty before). */
    public List<ControlMessage.Listener> listeners() {
        return listeners;
    }

    /** Whether the agent advertised a listener for service port {@code port} of {@code endpoint}. */
    public boolean listensFor(String endpoint, int port) {
        return listeners.stream().anyMatch(l -> l.endpoint().equals(endpoint) && l.port() == port);
    }

    /** What the agent was last told of its listeners (empty before the first time). */
    public List<ControlMessage.Listener> listenerStates() {
        List<ControlMessage.Listener> s = listenerStates;
        return s == null ? List.of() : s;
    }

    /** Tells the agent which of its listeners take connections now, if that changed since it was last told. */
    public void listenerStates(List<ControlMessage.Listener> states) {
        if (version < 3 || states.equals(listenerStates) || !control.isActive()) {
            return;
        }
        listenerStates = List.copyOf(states);
        control.writeAndFlush(ControlCodec.frame(control.alloc(), new ControlMessage.Listeners(listenerStates)));
        GatewayLog.SESSIONS.info(
                "{} listeners: {}",
                this,
                states.stream()
                        .map(l -> l.endpoint() + ":" + l.port()
                                + (Boolean.TRUE.equals(l.open()) ? " open" : " closed (" + l.reason() + ")"))
                        .toList());
    }

    /** The agent's latest verdict per health check id. */
    Map<String, TargetHealth> verdicts() {
        return health;
    }

    boolean serves(HostAndPort target) {
        return targets.contains(target);
    }

    ConnectionEvents events() {
        return events;
    }

    public String agentName() {
        return agentName;
    }

    /** The protocol version agreed with the agent. */
    public int version() {
        return version;
    }

    /** Connections routed here that have not ended: what "least outstanding" compares. */
    int outstanding() {
        return outstanding.get();
    }

    /** Counts a connection routed here until {@link #finished} or its failure. */
    public void routed() {
        outstanding.incrementAndGet();
    }

    /** A connection routed here no longer counts: it ended, failed, or went to another session. */
    public void unrouted() {
        outstanding.decrementAndGet();
    }

    public boolean draining() {
        return draining;
    }

    /**
     * The agent asked to drain: no new connection is routed here from now on. Runs on the link's
     * event loop, where connections are handed to the session, so none can slip in after it.
     */
    void drain(String reason) {
        assert link.eventLoop().inEventLoop();
        draining = true;
        GatewayLog.SESSIONS.info(
                "{} draining ({}): {} connection(s) still open",
                this,
                reason == null ? "no reason given" : reason,
                outstanding());
        control.writeAndFlush(ControlCodec.frame(control.alloc(), new ControlMessage.Draining()));
    }

    /**
     * The gateway is stopping (it drains): the agent learns that nothing new comes and when to
     * try again, so that it is back about {@code reconnect} after the gateway (protocol version 2;
     * an agent of version 1 reconnects after its own backoff).
     */
    void gatewayStopping(java.time.Duration reconnect) {
        if (version >= 2 && control.isActive()) {
            control.writeAndFlush(
                    ControlCodec.frame(control.alloc(), new ControlMessage.Draining(reconnect.toMillis())));
        }
    }

    /** Sends the agent a new set of health checks, if it differs from the last one sent. */
    void healthChecks(Map<String, ControlMessage.Check> wanted) {
        if (version < 2 || wanted.equals(checks)) {
            return;
        }
        Map<String, ControlMessage.Check> before = checks;
        checks = Map.copyOf(wanted);
        // A check whose definition changed starts over on the agent: its old verdict no longer holds.
        health.keySet()
                .removeIf(id -> !wanted.containsKey(id) || !wanted.get(id).equals(before.get(id)));
        control.writeAndFlush(
                ControlCodec.frame(control.alloc(), new ControlMessage.HealthChecks(List.copyOf(wanted.values()))));
        GatewayLog.SESSIONS.info("{} runs {} health check(s)", this, wanted.size());
    }

    /** The agent's new verdict on one of its checks. */
    void health(ControlMessage.Health h) {
        ControlMessage.Check check = checks.get(h.check());
        if (check == null) {
            return; // a check replaced meanwhile
        }
        String reason = h.reason() == null || h.reason().length() <= MAX_REASON
                ? h.reason()
                : h.reason().substring(0, MAX_REASON) + "...";
        TargetHealth now = new TargetHealth(h.healthy(), reason, Instant.now());
        TargetHealth before = health.put(h.check(), now);
        if (before == null || before.healthy() != h.healthy()) {
            GatewayLog.SESSIONS.info(
                    "{} target {} ({}) is {}: {}",
                    this,
                    check.target(),
                    h.check(),
                    h.healthy() ? "healthy" : "unhealthy",
                    reason);
        }
    }

    /** The agent's latest verdict on check {@code checkId}, or null before its first one. */
    TargetHealth health(String checkId) {
        return health.get(checkId);
    }

    /** Whether this live session's agent last reported check {@code checkId} healthy. */
    boolean healthy(String checkId) {
        TargetHealth h = health.get(checkId);
        return h != null && h.healthy() && link.isActive();
    }

    /** Whether the agent runs check {@code checkId} (a version-1 agent runs none). */
    boolean checks(String checkId) {
        return checks.containsKey(checkId);
    }

    /** One verdict of the agent about a target. */
    record TargetHealth(boolean healthy, String reason, Instant since) {}

    /** Asks the agent to dial {@code p}'s target; the agent answers with a stream or dialFailed. */
    public void open(PendingConnection p) {
        pending.put(p.id(), p);
        control.writeAndFlush(ControlCodec.frame(
                        control.alloc(),
                        new ControlMessage.Open(p.id(), p.target().toString())))
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        fail(p.id(), "session_lost", "control stream write failed: " + f.cause());
                    }
                });
    }

    /** The pending connection for a data stream that arrived, or null when unknown or expired. */
    PendingConnection claim(long connectionId) {
        return pending.remove(connectionId);
    }

    /**
     * Ends connection {@code connectionId} with a reset, if it is still waiting or dialling:
     * {@code kind} is the short reason counted in the metrics (null: not a failure to reach the
     * target, e.g. the consumer left), {@code reason} the one logged.
     */
    public void fail(long connectionId, String kind, String reason) {
        PendingConnection p = pending.remove(connectionId);
        if (p != null) {
            unrouted();
            p.fail(events, kind, reason);
            return;
        }
        Assigned a = assigned.remove(connectionId);
        if (a != null) {
            events.aborted(connectionId, a.route(), a.from(), a.target(), kind, reason);
            a.relay().abort(reason);
        }
    }

    /** A connection carried on a standby stream, for as long as a dialFailed may name it. */
    private record Assigned(StreamRelay relay, EndpointRoute route, HostAndPort target, SocketAddress from) {}

    /** Keeps a standby stream for a future connection; false when the session has enough. */
    boolean addStandby(Http2StreamChannel stream) {
        assert link.eventLoop().inEventLoop();
        if (standby.size() >= Protocol.MAX_STANDBY_STREAMS) {
            return false;
        }
        standby.add(stream);
        stream.closeFuture().addListener(f -> standby.remove(stream));
        return true;
    }

    /**
     * Carries a new consumer connection on a standby stream: the answer names the connection and
     * its target, and the consumer's bytes follow at once. False when no standby stream is left.
     */
    public boolean assignStandby(long id, EndpointRoute route, HostAndPort target, Channel socket, long acceptedNanos) {
        assert link.eventLoop().inEventLoop();
        Http2StreamChannel stream;
        while ((stream = standby.poll()) != null && !stream.isActive()) {
            // closed meanwhile: try the next
        }
        if (stream == null) {
            return false;
        }
        Http2Headers answer = ConnectionStart.ok();
        answer.set(Protocol.HEADER_CONNECTION_ID, Long.toString(id));
        answer.set(Protocol.HEADER_TARGET, target.toString());
        StreamRelay relay = ConnectionStart.relay(this, stream, answer, id, route, target, socket, acceptedNanos);
        assigned.put(id, new Assigned(relay, route, target, socket.remoteAddress()));
        if (!socket.isActive()) {
            assigned.remove(id); // the consumer was already gone: the relay ended inside start()
        }
        return true;
    }

    /** A connection of this session that got its data stream ended. */
    void finished(long connectionId) {
        assigned.remove(connectionId);
        unrouted();
    }

    /** Fails every waiting consumer connection; called when the session ends. */
    void failAll(String reason) {
        for (Long id : pending.keySet()) {
            fail(id, "session_lost", reason);
        }
    }

    /** The id of the agent token this session authenticated with. */
    String tokenId() {
        return tokenId;
    }

    @Override
    public String toString() {
        // Not "token=...": the logging layer masks what follows such names, and these are no secrets.
        return "agent session " + id + " (account=" + account + ", " + credentialKind() + " " + tokenName + " "
                + tokenId + ", agent=" + agentName + ")";
    }

    /** What the session authenticated with, by its id's prefix. */
    private String credentialKind() {
        if (tokenId.startsWith(AgentIdentities.ID_PREFIX)) {
            return "agent identity";
        }
        return tokenId.startsWith(AgentEnrollments.CERTIFICATE_ID_PREFIX) ? "client certificate" : "agent token";
    }
}
