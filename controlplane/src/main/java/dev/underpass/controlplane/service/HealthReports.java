package dev.underpass.controlplane.service;

import java.time.Instant;
import java.util.List;

/**
 * What the live agent sessions report about the targets they check; the gateway that holds the
 * sessions answers. A target's reports come from every session of the account that serves it.
 */
@FunctionalInterface
public interface HealthReports {
    HealthReports NONE = (account, checkId) -> List.of();

    /** The reports of {@code account}'s live agent sessions for check {@link HealthCheck#id}. */
    List<Report> of(String account, String checkId);

    /**
     * One agent session's view of one target: {@code state} is {@code healthy}, {@code unhealthy},
     * or {@code initial} before the first verdict; {@code draining} when the agent is draining.
     */
    record Report(String agent, long session, HealthState state, String reason, Instant since) {}
}
