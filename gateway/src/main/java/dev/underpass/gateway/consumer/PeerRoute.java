package dev.underpass.gateway.consumer;

import dev.underpass.gateway.events.EndpointRoute;
import io.netty.channel.Channel;

/**
 * The other nodes of a gateway cluster, as the endpoint ports see them: a consumer connection
 * that no agent of this node can carry goes through a peer node whose agents can
 * (docs/cluster.md).
 */
public interface PeerRoute {
    /** Whether a live peer node has agents for {@code route}; with {@code healthy}, ones that find a target healthy. */
    boolean serves(EndpointRoute route, boolean healthy);

    /**
     * Carries connection {@code id} through such a peer, with the same preference; reports its
     * start and end (or failure) to the connection events itself. The socket must not be reading.
     */
    void carry(long id, EndpointRoute route, Channel socket, boolean healthy, long acceptedNanos);

    /** A gateway alone: no peers. */
    PeerRoute NONE = new PeerRoute() {
        @Override
        public boolean serves(EndpointRoute route, boolean healthy) {
            return false;
        }

        @Override
        public void carry(long id, EndpointRoute route, Channel socket, boolean healthy, long acceptedNanos) {
            throw new IllegalStateException("no peer nodes");
        }
    };
}
