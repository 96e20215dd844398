package dev.underpass.gateway.cluster;

import dev.underpass.controlplane.endpoint.AgentListenerViews;
import dev.underpass.gateway.link.AgentRegistry;
import dev.underpass.protocol.HostAndPort;
import java.util.ArrayList;
import java.util.List;

/**
 * What this node knows of the other live nodes, as of its last heartbeat: created before the
 * control plane, which asks it for diagnosis, and kept up to date by the heartbeat.
 */
public final class PeerView {
    private volatile List<Peer> peers = List.of();

    List<Peer> peers() {
        return peers;
    }

    void update(List<Peer> live) {
        peers = List.copyOf(live);
    }

    /**
     * The agent listeners for endpoint {@code endpointId} (to {@code serviceRef}) that the
     * sessions of {@code account} on the other nodes host, with each node's id.
     */
    public List<AgentListenerViews.Hosted> hosting(String account, String endpointId, String serviceRef) {
        List<AgentListenerViews.Hosted> hosted = new ArrayList<>();
        for (Peer p : peers) {
            AgentRegistry.Served s = p.served().get(account);
            if (s != null) {
                s.listening().stream()
                        .filter(l -> l.isFor(endpointId, serviceRef))
                        .forEach(l -> hosted.add(l.on(p.id())));
            }
        }
        return hosted;
    }

    /** The agent sessions of {@code account} on the other nodes that advertise one of {@code targets}. */
    public int sessionsServing(String account, List<HostAndPort> targets) {
        int n = 0;
        for (Peer p : peers) {
            n += p.sessionsServing(account, targets);
        }
        return n;
    }
}
