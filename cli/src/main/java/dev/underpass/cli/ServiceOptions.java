package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import picocli.CommandLine.Option;

/** What {@code service create} and {@code service update} set, as the fields of the API's request. */
final class ServiceOptions {
    @Option(
            names = "--listener",
            paramLabel = "PORT=HOST:PORT[,HOST:PORT...]",
            converter = ListenerConverter.class,
            description =
                    "A port of the service and the targets behind it, as the provider's agents reach them; repeatable."
                            + " On update, replaces every listener.")
    List<ObjectNode> listeners;

    @Option(
            names = "--health-check",
            paramLabel = HealthCheckConverter.FORMAT,
            converter = HealthCheckConverter.class,
            description = "How the agents check the targets of the --listener on PORT: PROTOCOL tcp (connect), tls "
                    + "(handshake), http or https (GET PATH, default /; matcher default 200-399); repeatable, e.g. "
                    + "443=https:/healthz,interval=5,matcher=200-299 or 22=tcp. Without it: tcp every 10 s. Needs the "
                    + "--listener of its port in the same command, on update too.")
    List<HealthCheckConverter.PortCheck> healthChecks;

    /** Lower camel case, as the API names them. */
    enum LoadBalancing {
        leastOutstanding,
        roundRobin
    }

    enum WhenAllUnhealthy {
        failOpen,
        failClosed
    }

    @Option(
            names = "--load-balancing",
            paramLabel = "POLICY",
            description = "How connections spread over healthy targets: ${COMPLETION-CANDIDATES} (default on create: "
                    + "leastOutstanding).")
    LoadBalancing loadBalancing;

    @Option(
            names = "--when-all-unhealthy",
            paramLabel = "POLICY",
            description =
                    "When no target of a listener is healthy: failOpen (use them all anyway) or failClosed (refuse "
                            + "connections) (default on create: failOpen).")
    WhenAllUnhealthy whenAllUnhealthy;

    @Option(names = "--description", paramLabel = "TEXT", description = "What the service is, for its consumers.")
    String description;

    @Option(
            names = "--allow",
            paramLabel = "ACCOUNT|*",
            description =
                    "An account that may connect, or * for every account; repeatable. On update, replaces the list.")
    List<String> allow;

    @Option(
            names = "--acceptance-required",
            arity = "1",
            paramLabel = "true|false",
            description = "Whether you accept each connection request (default on create: true).")
    Boolean acceptanceRequired;

    @Option(
            names = "--private-dns-name",
            paramLabel = "NAME",
            description = "A DNS name of yours for the service, given to consumers once verified (see verify-dns).")
    String privateDnsName;

    /** Puts every option given into {@code body}. */
    ObjectNode into(ObjectNode body) {
        if (description != null) {
            body.put("description", description);
        }
        if (listeners != null) {
            ArrayNode array = body.putArray("listeners");
            listeners.forEach(l -> array.add(l.deepCopy()));
        }
        if (healthChecks != null) {
            healthChecks.forEach(c -> attach(body.path("listeners"), c));
        }
        if (allow != null) {
            allow.forEach(body.putArray("allowedPrincipals")::add);
        }
        if (acceptanceRequired != null) {
            body.put("acceptanceRequired", acceptanceRequired);
        }
        if (privateDnsName != null) {
            body.put("privateDnsName", privateDnsName);
        }
        if (loadBalancing != null) {
            body.put("loadBalancing", loadBalancing.name());
        }
        if (whenAllUnhealthy != null) {
            body.put("whenAllUnhealthy", whenAllUnhealthy.name());
        }
        return body;
    }

    /** Puts {@code c} into the listener of its port, which must be among {@code listeners}. */
    private static void attach(JsonNode listeners, HealthCheckConverter.PortCheck c) {
        for (JsonNode l : listeners) {
            if (l.path("port").asInt() == c.port()) {
                if (l.has("healthCheck")) {
                    throw new IllegalArgumentException(
                            "--health-check: port " + c.port() + " given twice (expected: one " + "per listener)");
                }
                ((ObjectNode) l).set("healthCheck", c.check());
                return;
            }
        }
        // The API replaces every listener with its check on update, so a check alone has nothing to attach to.
        throw new IllegalArgumentException("--health-check: port " + c.port() + " has no --listener in this command "
                + "(expected: --listener " + c.port() + "=HOST:PORT with it; on update too, since --listener replaces "
                + "every listener and its health check)");
    }
}
