package dev.underpass.controlplane.endpoint;

import java.util.List;

/**
 * The data plane's answer to "which of my agents listen for this endpoint" (bidirectional): the
 * live agent sessions of the consumer account, on every node of the gateway, whose file lists a
 * listener for it, by id or by its service, with the state the gateway last told each of them.
 */
public interface AgentListenerViews {
    /**
     * One agent listener: the gateway node, agent and session that host it, where it listens, and
     * whether it takes connections.
     */
    record Hosted(
            String node, String agent, long session, String address, int servicePort, boolean open, String reason) {}

    /** What {@code GET /v1/endpoints/{id}/agent-listeners} answers. */
    record Hosting(List<Hosted> items) {
        public Hosting {
            items = List.copyOf(items);
        }
    }

    /** The listeners of {@code account}'s agents for its endpoint {@code endpointId} to service {@code serviceRef}. */
    List<Hosted> hosting(String account, String endpointId, String serviceRef);

    /** No data plane here: no agent listens. */
    AgentListenerViews NONE = (account, endpointId, serviceRef) -> List.of();
}
