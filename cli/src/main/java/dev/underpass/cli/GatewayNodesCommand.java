package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** The nodes of the gateway (docs/cluster.md), as the API of the logged-in gateway lists them. */
@Command(
        name = "nodes",
        mixinStandardHelpOptions = true,
        description = {
            "List the gateway's nodes that share its store: where agents reach each, its state (live, draining,",
            "gone) and its agent sessions. Needs an operator account's key."
        })
final class GatewayNodesCommand implements Callable<Integer> {
    @Mixin
    Output output;

    @Override
    public Integer call() {
        JsonNode nodes;
        try (ApiClient api = ApiClient.current()) {
            nodes = api.get("/v1/nodes");
        }
        output.print(nodes, out -> {
            Table t =
                    Table.of("ID", "STATE", "AGENT ADDRESS", "API", "SESSIONS", "LAST HEARTBEAT", "STARTED", "VERSION");
            nodes.path("items")
                    .forEach(n -> t.row(
                            Text.of(n.path("id")),
                            Text.of(n.path("state")),
                            Text.of(n.path("agentAddress")),
                            Text.of(n.path("apiAddress")),
                            n.path("sessions").asText(),
                            n.path("secondsSinceHeartbeat").asText() + "s ago",
                            Text.time(n.path("startedAt")),
                            Text.of(n.path("version"))));
            t.print(out);
        });
        return 0;
    }
}
