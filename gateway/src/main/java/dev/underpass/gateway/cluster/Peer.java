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
            if (s.targets().containsKey(t.address().toString())
                    && (!healthy || !s.unhealthyChecks().contains(t.checkId()))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Its agent sessions of {@code account} that advertise one of {@code targets}: the most that
     * advertise any one of them (exact when every session advertises them all, as agents of one
     * service usually do).
     */
    int sessionsServing(String account, java.util.List<dev.underpass.protocol.HostAndPort> targets) {
        AgentRegistry.Served s = served.get(account);
        if (s == null) {
            return 0;
        }
        int most = 0;
        for (var t : targets) {
            most = Math.max(most, s.targets().getOrDefault(t.toString(), 0));
        }
        return most;
    }
}
