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
    public static final String HEALTHY = "healthy";
    public static final String UNHEALTHY = "unhealthy";
    public static final String INITIAL = "initial";
    /** No live agent session serves the target, so nothing is known of it. */
    public static final String UNAVAILABLE = "unavailable";
    /** A report's state while its agent drains: it counts as not healthy. */
    static final String DRAINING = "draining";

    /** {@code state} is {@link #HEALTHY}, {@link #UNHEALTHY}, {@link #INITIAL} or {@link #UNAVAILABLE}. */
    public record Target(
            int port, String target, HealthCheck healthCheck, String state, String reason, List<Report> agents) {}

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
        long healthy = agents.stream().filter(r -> HEALTHY.equals(r.state())).count();
        String state;
        String reason;
        if (agents.isEmpty()) {
            state = UNAVAILABLE;
            reason = "no live agent serves this target";
        } else if (healthy > 0) {
            state = HEALTHY;
            reason = "healthy through " + healthy + " of " + agents.size() + " agents";
        } else if (agents.stream().anyMatch(r -> INITIAL.equals(r.state()))) {
            state = INITIAL;
            reason = "not checked yet";
        } else {
            state = UNHEALTHY;
            reason = agents.stream()
                    .filter(r -> UNHEALTHY.equals(r.state()) && r.reason() != null)
                    .map(Report::reason)
                    .findFirst()
                    .orElse(
                            agents.stream().allMatch(r -> DRAINING.equals(r.state()))
                                    ? "every agent serving it is draining"
                                    : "no agent reports it healthy");
        }
        return new Target(port, target, check, state, reason, List.copyOf(agents));
    }
}
