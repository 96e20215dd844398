package dev.underpass.gateway;

import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.net.SocketAddress;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One authenticated agent connection: who it is, the targets it advertised, its control stream,
 * and the consumer connections waiting for it to open their data streams.
 */
final class AgentSession {
    private final long id;
    private final String account;
    private final String tokenName;
    private final String agentName;
    private final Channel link;
    private final Http2StreamChannel control;
    private final Instant since = Instant.now();
    private final Map<Long, PendingConnection> pending = new ConcurrentHashMap<>();
    private volatile Set<HostAndPort> targets = Set.of();

    AgentSession(long id, String account, String tokenName, String agentName, Channel link, Http2StreamChannel control) {
        this.id = id;
        this.account = account;
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

    Set<HostAndPort> targets() {
        return targets;
    }

    void advertised(Set<HostAndPort> targets) {
        this.targets = Set.copyOf(targets);
    }

    boolean serves(HostAndPort target) {
        return targets.contains(target);
    }

    int pendingCount() {
        return pending.size();
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
        }
    }

    /** Fails every waiting consumer connection; called when the session ends. */
    void failAll(String reason) {
        for (Long id : pending.keySet()) {
            fail(id, reason);
        }
    }

    @Override
    public String toString() {
        return "agent session " + id + " (account=" + account + " token=" + tokenName + " agent=" + agentName + ")";
    }
}
