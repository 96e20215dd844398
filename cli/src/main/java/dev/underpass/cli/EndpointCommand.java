package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Endpoints: the caller's attachments to services of other accounts (consumer side), and the
 * connection requests to its own services (provider side), which the provider accepts or rejects.
 */
@Command(
        name = "endpoint",
        mixinStandardHelpOptions = true,
        description =
                "Connect to a service of another account, follow the request, and (as provider) accept or reject requests.")
final class EndpointCommand {
    @Command(
            name = "create",
            mixinStandardHelpOptions = true,
            description = "Request an endpoint to a service, named as 'underpass service list --available' shows it.")
    int create(@Parameters(paramLabel = "PROVIDER/SERVICE") String service, @Mixin Output output) {
        JsonNode endpoint;
        try (ApiClient api = ApiClient.current()) {
            endpoint =
                    api.post("/v1/endpoints", ApiClient.JSON.createObjectNode().put("service", service));
        }
        output.print(endpoint, out -> print(out, endpoint));
        return 0;
    }

    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description = "List your account's endpoints, or with --side provider the requests to your services.")
    int list(
            @Option(
                            names = "--side",
                            paramLabel = "consumer|provider",
                            description = "consumer: your endpoints (default); provider: endpoints to your services.")
                    String side,
            @Option(
                            names = "--state",
                            paramLabel = "STATE",
                            description = "Only endpoints in this state, e.g. pendingAcceptance or available.")
                    String state,
            @Option(
                            names = "--service",
                            paramLabel = "SERVICE",
                            description =
                                    "Only endpoints of this service (provider/name; on the provider side, name is enough).")
                    String service,
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N endpoints.") Integer limit,
            @Mixin Output output) {
        Map<String, String> query = new LinkedHashMap<>();
        query.put("side", side);
        query.put("state", state);
        query.put("service", service);
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/endpoints", query, limit);
        }
        output.print(page, out -> {
            Table t = Table.of("ID", "SERVICE", "ACCOUNT", "STATE", "PORTS (service→gateway address)", "CREATED");
            page.path("items")
                    .forEach(e -> t.row(
                            Text.of(e.path("id")),
                            Text.of(e.path("service")),
                            Text.of(e.path("account")),
                            Text.of(e.path("state")),
                            ports(e, ", "),
                            Text.time(e.path("createdAt"))));
            t.print(out);
        });
        return 0;
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "Show an endpoint and its history.")
    int show(@Parameters(paramLabel = "ID") String id, @Mixin Output output) {
        JsonNode endpoint;
        JsonNode listeners;
        try (ApiClient api = ApiClient.current()) {
            endpoint = api.get(path(id));
            // Only the consumer's agents listen for its endpoint; the provider is not told where.
            listeners = endpoint.has("dnsNames") ? api.get(path(id) + "/agent-listeners") : null;
        }
        JsonNode shown = endpoint;
        if (listeners != null && output.json()) {
            shown = endpoint.deepCopy();
            ((com.fasterxml.jackson.databind.node.ObjectNode) shown).set("agentListeners", listeners.path("items"));
        }
        output.print(shown, out -> {
            print(out, endpoint);
            if (listeners != null && !listeners.path("items").isEmpty()) {
                out.println("agent listeners:");
                Table t = Table.of("AGENT", "SESSION", "NODE", "LISTENS ON", "PORT", "STATE");
                listeners
                        .path("items")
                        .forEach(l -> t.row(
                                Text.of(l.path("agent")),
                                Text.of(l.path("session")),
                                Text.of(l.path("node")),
                                Text.of(l.path("address")),
                                Text.of(l.path("servicePort")),
                                l.path("open").asBoolean() ? "open" : "closed: " + Text.of(l.path("reason"))));
                t.print(out, "  ");
            }
        });
        return 0;
    }

    @Command(
            name = "accept",
            mixinStandardHelpOptions = true,
            description = "Accept a connection request to your service.")
    int accept(
            @Parameters(paramLabel = "ID") String id,
            @Option(names = "--reason", paramLabel = "TEXT", description = "Why, for the consumer and the history.")
                    String reason,
            @Mixin Output output) {
        return decide(id, "accept", reason, output);
    }

    @Command(
            name = "reject",
            mixinStandardHelpOptions = true,
            description =
                    "Reject a connection request to your service, or an endpoint you accepted (its connections end).")
    int reject(
            @Parameters(paramLabel = "ID") String id,
            @Option(names = "--reason", paramLabel = "TEXT", description = "Why, for the consumer and the history.")
                    String reason,
            @Mixin Output output) {
        return decide(id, "reject", reason, output);
    }

    @Command(
            name = "delete",
            mixinStandardHelpOptions = true,
            description = "Delete your endpoint: the gateway closes its listeners and connections.")
    int delete(@Parameters(paramLabel = "ID") String id, @Mixin Output output) {
        JsonNode endpoint;
        try (ApiClient api = ApiClient.current()) {
            endpoint = api.delete(path(id));
        }
        output.print(endpoint, out -> print(out, endpoint));
        return 0;
    }

    private static int decide(String id, String verb, String reason, Output output) {
        ObjectNode body = ApiClient.JSON.createObjectNode();
        if (reason != null) {
            body.put("reason", reason);
        }
        JsonNode endpoint;
        try (ApiClient api = ApiClient.current()) {
            endpoint = api.post(path(id) + "/" + verb, body);
        }
        output.print(endpoint, out -> print(out, endpoint));
        return 0;
    }

    private static String path(String id) {
        return "/v1/endpoints/" + ApiClient.segment(id);
    }

    private static String ports(JsonNode endpoint, String separator) {
        return Text.join(
                endpoint.path("ports"),
                separator,
                p -> Text.of(p.path("servicePort")) + "→" + Text.of(p.path("address")));
    }

    /**
     * Which name a TLS service answers to: its certificate names the provider's private name, not
     * the generated one, so clients that check names (git, curl) must use the former (issue 12).
     */
    private static String tlsHint(JsonNode e) {
        JsonNode names = e.path("dnsNames");
        String generated = names.size() > 0 ? names.get(0).asText() : "?";
        if (names.size() > 1) {
            String verified = names.get(names.size() - 1).asText();
            return "by " + verified
                    + " (the service's verified private DNS name, which its certificate covers), through "
                    + "the forward proxy (https_proxy) or the TLS listener; " + generated
                    + " serves clients that do not "
                    + "check the name";
        }
        return "the service has no verified private DNS name: clients that check the server's name (git, curl) refuse "
                + generated
                + " unless the service's certificate covers it; its provider can add one (underpass service "
                + "update NAME --private-dns-name ...)";
    }

    private static void print(PrintWriter out, JsonNode e) {
        Text.field(out, "id", Text.of(e.path("id")));
        Text.field(out, "service", Text.of(e.path("service")));
        Text.field(out, "account", Text.of(e.path("account")));
        Text.field(out, "state", Text.of(e.path("state")));
        Text.field(out, "reason", Text.of(e.path("stateReason")));
        if (e.has("dnsNames")) { // the consumer's view: the provider does not see where the consumer connects
            Text.field(out, "DNS names", Text.join(e.path("dnsNames"), ", ", Text::of));
            Text.field(out, "ports (service→gateway address)", ports(e, ", "));
            Text.field(out, "TLS services", tlsHint(e));
        }
        Text.field(out, "created", Text.time(e.path("createdAt")));
        Text.field(out, "updated", Text.time(e.path("updatedAt")));
        if (e.has("events")) {
            out.println("events:");
            Table t = Table.of("TIME", "CHANGE", "ACTOR", "REASON");
            e.path("events")
                    .forEach(ev -> t.row(
                            Text.time(ev.path("at")),
                            (ev.hasNonNull("from") ? ev.path("from").asText() : "new") + " → " + Text.of(ev.path("to")),
                            Text.of(ev.path("actor")),
                            Text.of(ev.path("reason"))));
            t.print(out, "  ");
        }
    }
}
