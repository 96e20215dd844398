package dev.underpass.gateway.cluster;

import dev.underpass.protocol.HostAndPort;
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

    /** The agent sessions of {@code account} on the other nodes that advertise one of {@code targets}. */
    public int sessionsServing(String account, List<HostAndPort> targets) {
        int n = 0;
        for (Peer p : peers) {
            n += p.sessionsServing(account, targets);
        }
        return n;
    }
}
