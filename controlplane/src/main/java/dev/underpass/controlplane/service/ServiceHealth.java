package dev.underpass.controlplane.service;

import dev.underpass.controlplane.service.HealthReports.Report;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * The health of a service's targets as its provider sees it ({@code GET /v1/services/{name}/health}):
 * per target, its check, what each live agent session reports, and one state summing them up.
 */
public record ServiceHealth(
        String service, LoadBalancing loadBalancing, WhenAllUnhealthy whenAllUnhealthy, List<Target> targets) {
    /** {@code state} is healthy, unhealthy, initial or unavailable (never draining). */
    public record Target(
            int port, String target, HealthCheck healthCheck, HealthState state, String reason, List<Report> agents) {}

    static ServiceHealth of(Services.View service, String account, HealthReports reports) {
        List<Target> targets = new ArrayList<>();
        for (Services.Listener l : service.listeners()) {
            TargetGroup group = service.targetGroup(l);
            for (String target : new LinkedHashSet<>(group.targets())) {
                List<Report> agents =
                        new ArrayList<>(reports.of(account, HealthCheck.id(service.name(), l.port(), target)));
                agents.sort(Comparator.comparing(Report::agent, Comparator.nullsFirst(Comparator.naturalOrder()))
                        .thenComparingLong(Report::session));
                targets.add(target(l.port(), target, group.healthCheck(), agents));
            }
        }
        return new ServiceHealth(service.name(), service.loadBalancing(), service.whenAllUnhealthy(), targets);
    }

    /** Healthy through any agent, since consumers reach the target through whichever agent can. */
    public static Target target(int port, String target, HealthCheck check, List<Report> agents) {
        long healthy =
                agents.stream().filter(r -> r.state() == HealthState.HEALTHY).count();
        HealthState state;
        String reason;
        if (agents.isEmpty()) {
            state = HealthState.UNAVAILABLE;
            reason = "no live agent serves this target";
        } else if (healthy > 0) {
            state = HealthState.HEALTHY;
            reason = "healthy through " + healthy + " of " + agents.size() + " agents";
        } else if (agents.stream().anyMatch(r -> r.state() == HealthState.INITIAL)) {
            state = HealthState.INITIAL;
            reason = "not checked yet";
        } else {
            state = HealthState.UNHEALTHY;
            reason = agents.stream()
                    .filter(r -> r.state() == HealthState.UNHEALTHY && r.reason() != null)
                    .map(Report::reason)
                    .findFirst()
                    .orElse(
                            agents.stream().allMatch(r -> r.state() == HealthState.DRAINING)
                                    ? "every agent serving it is draining"
                                    : "no agent reports it healthy");
        }
        return new Target(port, target, check, state, reason, List.copyOf(agents));
    }
}
