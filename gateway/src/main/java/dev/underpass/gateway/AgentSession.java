package dev.underpass.gateway;

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
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One authenticated agent connection: who it is, the targets it advertised, its control stream,
 * the consumer connections waiting for it to open their data streams, and its standby streams.
 */
final class AgentSession {
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

    AgentSession(long id, String account, String tokenId, String tokenName, String agentName, Channel link,
                 Http2StreamChannel control) {
        this.id = id;
        this.account = account;
        this.tokenId = tokenId;
        this.tokenName = tokenName;
        this.agentName = agentName;
        this.link = link;
        this.control = control;
    }

    long id() {
        return id;
    }

    String account() {
        return account;
    }

    Channel link() {
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

    boolean serves(HostAndPort target) {
        return targets.contains(target);
    }

    /** Asks the agent to dial {@code p}'s target; the agent answers with a stream or dialFailed. */
    void open(PendingConnection p) {
        pending.put(p.id(), p);
        control.writeAndFlush(ControlCodec.frame(control.alloc(), new ControlMessage.Open(p.id(), p.target().toString())))
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        fail(p.id(), "control stream write failed: " + f.cause());
                    }
                });
    }

    /** The pending connection for a data stream that arrived, or null when unknown or expired. */
    PendingConnection claim(long connectionId) {
        return pending.remove(connectionId);
    }

    void fail(long connectionId, String reason) {
        PendingConnection p = pending.remove(connectionId);
        if (p != null) {
            p.fail(reason);
            return;
        }
        Assigned a = assigned.remove(connectionId);
        if (a != null) {
            GatewayLog.CONNECTIONS.warn("connection {} endpoint={} port={} from={} target={} failed: {}",
                    connectionId, a.route().endpoint(), a.route().servicePort(), a.from(), a.target(), reason);
            a.relay().abort(reason);
        }
    }

    /** A connection carried on a standby stream, for as long as a dialFailed may name it. */
    private record Assigned(StreamRelay relay, EndpointRoute route, HostAndPort target, SocketAddress from) {
    }

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
    boolean assignStandby(long id, EndpointRoute route, HostAndPort target, Channel socket, long acceptedNanos) {
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

    /** A connection of this session ended. */
    void finished(long connectionId) {
        assigned.remove(connectionId);
    }

    /** Fails every waiting consumer connection; called when the session ends. */
    void failAll(String reason) {
        for (Long id : pending.keySet()) {
            fail(id, reason);
        }
    }

    /** The id of the agent token this session authenticated with. */
    String tokenId() {
        return tokenId;
    }

    @Override
    public String toString() {
        return "agent session " + id + " (account=" + account + " token=" + tokenName + " agent=" + agentName + ")";
    }
}
