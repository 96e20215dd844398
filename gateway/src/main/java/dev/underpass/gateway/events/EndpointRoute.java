package dev.underpass.gateway.events;

import dev.underpass.protocol.HostAndPort;
import java.util.List;

/**
 * Where one endpoint listener's connections go: the endpoint, its service, that port's targets
 * with the id of each target's health check, and how the service spreads connections.
 */
public record EndpointRoute(
        String endpoint,
        String consumerAccount,
        String service,
        String providerAccount,
        int servicePort,
        List<Target> targets,
        Balancing balancing,
        boolean failOpen) {
    public EndpointRoute {
        targets = List.copyOf(targets);
    }

    /** A target as the agents reach it, and the id its health is reported under. */
    public record Target(HostAndPort address, String checkId) {}

    /** How a new connection picks among the agent sessions that may carry it. */
    public enum Balancing {
        LEAST_OUTSTANDING,
        ROUND_ROBIN;

        public static Balancing of(String name) {
            return "roundRobin".equals(name) ? ROUND_ROBIN : LEAST_OUTSTANDING;
        }
    }

    public List<HostAndPort> addresses() {
        return targets.stream().map(Target::address).toList();
    }
}
