package dev.underpass.controlplane.endpoint;

import java.util.List;

/**
 * What the gateway's data plane knows of agents, for diagnosis: how many live sessions of an
 * account advertise at least one of some targets. The gateway publishes it; without a gateway
 * (a control plane alone) nothing is known.
 */
@FunctionalInterface
public interface AgentPresence {
    int sessionsServing(String account, List<String> targets);
}
