package dev.underpass.controlplane.endpoint;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.underpass.controlplane.service.HealthCheck;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.ServiceHealth;
import dev.underpass.controlplane.service.ServiceRows;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.jdbi.v3.core.Jdbi;

/** What {@code underpass test} asks the gateway about an endpoint; no provider target is named. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Diagnosis(
        String id, String service, EndpointState state, String stateReason, List<String> dnsNames, List<Port> ports) {
    /**
     * One port of an endpoint as a diagnosis sees it: where consumers connect, how many agents
     * serve it, and how many of its targets are in each health state (counts only: consumers do
     * not learn the provider's targets).
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Port(int servicePort, String address, Integer agentSessions, Map<String, Integer> targetHealth) {}

    /** The diagnosis of endpoint {@code v}, which the caller was allowed to see. */
    static Diagnosis of(Jdbi jdbi, Endpoints.View v, Optional<AgentPresence> presence, HealthReports health) {
        return jdbi.withHandle(h -> {
            EndpointRows.Served svc = EndpointRows.served(h, v.id()).orElse(null);
            Map<Integer, List<String>> targets = svc == null ? Map.of() : ServiceRows.targets(h, svc.serviceSeq());
            Map<Integer, String> addresses = new LinkedHashMap<>();
            if (v.ports() != null) {
                v.ports().forEach(port -> addresses.put(port.servicePort(), port.address()));
            }
            List<Port> ports = new ArrayList<>();
            String serviceName = v.service().substring(v.service().indexOf('/') + 1);
            targets.forEach((port, t) -> ports.add(new Port(
                    port,
                    addresses.get(port),
                    presence.map(a -> a.sessionsServing(svc.provider(), t)).orElse(null),
                    presence.isEmpty() ? null : healthCounts(svc.provider(), serviceName, port, t, health))));
            return new Diagnosis(v.id(), v.service(), v.state(), v.stateReason(), v.dnsNames(), ports);
        });
    }

    /** How many of a port's targets are in each state of {@link ServiceHealth}. */
    private static Map<String, Integer> healthCounts(
            String provider, String service, int port, List<String> targets, HealthReports health) {
        Map<String, Integer> counts = new TreeMap<>();
        for (String t : new LinkedHashSet<>(targets)) {
            // Keyed by the state's text, in its alphabetical order, as the API has always listed them.
            String state = ServiceHealth.target(port, t, null, health.of(provider, HealthCheck.id(service, port, t)))
                    .state()
                    .text();
            counts.merge(state, 1, Integer::sum);
        }
        return counts;
    }
}
