package dev.underpass.gateway.cluster;

import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.link.AgentRegistry;
import java.util.Map;

/** Another live node of the cluster: where its agent port is, and what its agents serve per account. */
record Peer(String id, String agentAddress, Map<String, AgentRegistry.Served> served) {
    Peer {
        served = Map.copyOf(served);
    }

    /** Whether its agents advertise a target of {@code route}; with {@code healthy}, one they do not all find unhealthy. */
    boolean serves(EndpointRoute route, boolean healthy) {
        AgentRegistry.Served s = served.get(route.providerAccount());
        if (s == null) {
            return false;
        }
        for (EndpointRoute.Target t : route.targets()) {
            if (s.targets().contains(t.address().toString())
                    && (!healthy || !s.unhealthyChecks().contains(t.checkId()))) {
                return true;
            }
        }
        return false;
    }
}
