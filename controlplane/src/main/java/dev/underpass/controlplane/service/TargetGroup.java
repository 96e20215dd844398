package dev.underpass.controlplane.service;

import java.util.List;

/**
 * Where one listener's traffic goes, as the design names it (an NLB target group): the targets
 * (host:port as the provider's agents reach them), how agents check them, how connections spread
 * over the healthy ones, and what happens when none is healthy.
 *
 * <p>The API's JSON keeps the parts where they have always been: {@code targets} and
 * {@code healthCheck} on each listener, {@code loadBalancing} and {@code whenAllUnhealthy} on the
 * service (one policy for all its listeners). This record puts them together in code, from
 * {@link Services.View#targetGroup(Services.Listener)}, so that the rest of the code speaks of
 * target groups without the wire format changing.
 */
public record TargetGroup(
        List<String> targets, HealthCheck healthCheck, LoadBalancing loadBalancing, WhenAllUnhealthy whenAllUnhealthy) {
    public TargetGroup {
        targets = List.copyOf(targets);
    }
}
