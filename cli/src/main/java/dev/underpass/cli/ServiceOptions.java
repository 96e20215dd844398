package dev.underpass.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import picocli.CommandLine.Option;

/** What {@code service create} and {@code service update} set, as the fields of the API's request. */
final class ServiceOptions {
    @Option(names = "--listener", paramLabel = "PORT=HOST:PORT[,HOST:PORT...]", converter = ListenerConverter.class,
            description = "A port of the service and the targets behind it, as the provider's agents reach them; repeatable."
                    + " On update, replaces every listener.")
    List<ObjectNode> listeners;

    @Option(names = "--description", paramLabel = "TEXT", description = "What the service is, for its consumers.")
    String description;

    @Option(names = "--allow", paramLabel = "ACCOUNT|*",
            description = "An account that may connect, or * for every account; repeatable. On update, replaces the list.")
    List<String> allow;

    @Option(names = "--acceptance-required", arity = "1", paramLabel = "true|false",
            description = "Whether you accept each connection request (default on create: true).")
    Boolean acceptanceRequired;

    @Option(names = "--private-dns-name", paramLabel = "NAME",
            description = "A DNS name of yours for the service, given to consumers once verified (see verify-dns).")
    String privateDnsName;

    /** Puts every option given into {@code body}. */
    ObjectNode into(ObjectNode body) {
        if (description != null) {
            body.put("description", description);
        }
        if (listeners != null) {
            body.putArray("listeners").addAll(listeners);
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
        return body;
    }
}
