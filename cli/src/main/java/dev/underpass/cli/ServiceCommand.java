package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.underpass.controlplane.service.HealthCheckProtocol;
import dev.underpass.controlplane.service.PrivateNameState;
import java.io.PrintWriter;
import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Endpoint services: what the caller's account publishes, and what other accounts offer it. */
@Command(
        name = "service",
        mixinStandardHelpOptions = true,
        description =
                "Publish endpoint services (listeners, targets and their health checks, allowed accounts, acceptance,"
                        + " private DNS name), see their targets' health, and list the services other accounts offer you.")
final class ServiceCommand {
    @Command(name = "create", mixinStandardHelpOptions = true, description = "Publish an endpoint service.")
    int create(@Parameters(paramLabel = "NAME") String name, @Mixin ServiceOptions options, @Mixin Output output) {
        if (options.listeners == null) {
            throw new IllegalArgumentException("--listener: missing (expected: at least one, as PORT=HOST:PORT)");
        }
        ObjectNode body = options.into(ApiClient.JSON.createObjectNode().put("name", name));
        JsonNode service;
        try (ApiClient api = ApiClient.current()) {
            service = api.post("/v1/services", body);
        }
        output.print(service, out -> print(out, service));
        return 0;
    }

    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description =
                    "List your account's services, or with --available the services other accounts allow you to use.")
    int list(
            @Option(names = "--available", description = "Services of other accounts that your account may connect to.")
                    boolean available,
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N services.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list(available ? "/v1/service-offers" : "/v1/services", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t;
            if (available) {
                t = Table.of("SERVICE", "PORTS", "ACCEPTANCE", "PRIVATE DNS", "DESCRIPTION");
                page.path("items")
                        .forEach(o -> t.row(
                                Text.of(o.path("reference")),
                                Text.join(o.path("ports"), ",", Text::of),
                                acceptance(o),
                                Text.of(o.path("privateDnsName")),
                                Text.of(o.path("description"))));
            } else {
                t = Table.of("NAME", "LISTENERS", "ALLOWED", "ACCEPTANCE", "PRIVATE DNS", "CREATED");
                page.path("items")
                        .forEach(s -> t.row(
                                Text.of(s.path("name")),
                                Text.join(s.path("listeners"), " ", ServiceCommand::listener),
                                Text.join(s.path("allowedPrincipals"), ",", Text::of),
                                acceptance(s),
                                privateDns(s),
                                Text.time(s.path("createdAt"))));
            }
            t.print(out);
        });
        return 0;
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "Show a service of your account.")
    int show(@Parameters(paramLabel = "NAME") String name, @Mixin Output output) {
        JsonNode service;
        try (ApiClient api = ApiClient.current()) {
            service = api.get(path(name));
        }
        output.print(service, out -> print(out, service));
        return 0;
    }

    @Command(
            name = "update",
            mixinStandardHelpOptions = true,
            description =
                    "Change a service: only the options given change; --listener and --allow replace the whole list.")
    int update(
            @Parameters(paramLabel = "NAME") String name,
            @Mixin ServiceOptions options,
            @Option(names = "--no-private-dns-name", description = "Remove the private DNS name.") boolean noDnsName,
            @Mixin Output output) {
        if (noDnsName && options.privateDnsName != null) {
            throw new IllegalArgumentException(
                    "--no-private-dns-name and --private-dns-name: both given (expected: one)");
        }
        ObjectNode body = options.into(ApiClient.JSON.createObjectNode());
        if (noDnsName) {
            body.put("privateDnsName", ""); // the API's way to remove it
        }
        if (body.isEmpty()) {
            throw new IllegalArgumentException(
                    "nothing to change (expected: at least one of --listener, --description, "
                            + "--allow, --acceptance-required, --private-dns-name, --no-private-dns-name, --load-balancing, "
                            + "--when-all-unhealthy)");
        }
        JsonNode service;
        try (ApiClient api = ApiClient.current()) {
            service = api.patch(path(name), body);
        }
        output.print(service, out -> print(out, service));
        return 0;
    }

    @Command(
            name = "health",
            mixinStandardHelpOptions = true,
            description = {
                "Show the health of each target of a service of your account, as your live agents report it.",
                "Exits 0 whatever the targets' health (it is a report), 1 when the gateway refuses."
            })
    int health(@Parameters(paramLabel = "NAME") String name, @Mixin Output output) {
        JsonNode health;
        try (ApiClient api = ApiClient.current()) {
            health = api.get(path(name) + "/health");
        }
        output.print(health, out -> {
            Text.field(out, "service", Text.of(health.path("service")));
            settings(out, health);
            Table t = Table.of("PORT", "TARGET", "STATE", "REASON", "AGENTS");
            health.path("targets")
                    .forEach(x -> t.row(
                            Text.of(x.path("port")),
                            Text.of(x.path("target")),
                            Text.of(x.path("state")),
                            Text.printable(Text.of(x.path("reason"))),
                            agents(x.path("agents"))));
            t.print(out);
        });
        return 0;
    }

    @Command(
            name = "delete",
            mixinStandardHelpOptions = true,
            description = "Delete a service that no endpoint uses (reject its endpoints first).")
    int delete(@Parameters(paramLabel = "NAME") String name, @Mixin Output output) {
        try (ApiClient api = ApiClient.current()) {
            api.delete(path(name));
        }
        if (!output.json()) { // 204: there is no JSON to print
            output.out().println("deleted service " + name);
            output.out().flush();
        }
        return 0;
    }

    @Command(
            name = "verify-dns",
            mixinStandardHelpOptions = true,
            description = {
                "Check the TXT record that proves you own the service's private DNS name.",
                "Exits 1 unless the name is verified, so scripts can wait for it."
            })
    int verifyDns(@Parameters(paramLabel = "NAME") String name, @Mixin Output output) {
        JsonNode result;
        try (ApiClient api = ApiClient.current()) {
            result = api.post(path(name) + "/verify-private-dns", null);
        }
        output.print(result, out -> {
            Text.field(out, "service", Text.of(result.path("service")));
            Text.field(out, "private DNS name", Text.of(result.path("name")));
            Text.field(out, "state", Text.of(result.path("state")));
            Text.field(out, "detail", Text.of(result.path("detail")));
        });
        return PrivateNameState.VERIFIED.text().equals(result.path("state").asText()) ? 0 : ApiError.EXIT_CODE;
    }

    private static String path(String name) {
        return "/v1/services/" + ApiClient.segment(name);
    }

    private static void print(PrintWriter out, JsonNode s) {
        Text.field(out, "name", Text.of(s.path("name")));
        Text.field(
                out,
                "reference",
                Text.of(s.path("reference")) + " (what consumers give to 'underpass endpoint create')");
        Text.field(
                out,
                "description",
                s.path("description").asText("").isEmpty()
                        ? Text.NONE
                        : s.path("description").asText());
        Text.field(out, "acceptance", acceptance(s));
        Text.field(
                out,
                "allowed principals",
                s.path("allowedPrincipals").isEmpty()
                        ? "none (only your own account)"
                        : Text.join(s.path("allowedPrincipals"), ", ", Text::of));
        out.println("listeners:");
        s.path("listeners").forEach(l -> {
            out.println("  " + Text.of(l.path("port")) + "/" + Text.of(l.path("protocol")) + " → "
                    + Text.join(l.path("targets"), ", ", Text::of));
            if (l.has("healthCheck")) {
                out.println("    health check: " + healthCheck(l.path("healthCheck")));
            }
        });
        settings(out, s);
        JsonNode dns = s.path("privateDns");
        Text.field(out, "private DNS name", privateDns(s));
        if (!dns.isMissingNode()
                && !PrivateNameState.VERIFIED.text().equals(dns.path("state").asText())
                && dns.hasNonNull("verificationValue")) {
            Text.field(
                    out,
                    "to verify it, publish",
                    "TXT " + Text.of(dns.path("verificationRecord")) + " \""
                            + Text.of(dns.path("verificationValue")) + "\", then run 'underpass service verify-dns "
                            + Text.of(s.path("name")) + "'");
        }
        Text.field(out, "created", Text.time(s.path("createdAt")));
        Text.field(out, "updated", Text.time(s.path("updatedAt")));
    }

    private static void settings(PrintWriter out, JsonNode s) {
        Text.field(out, "load balancing", Text.of(s.path("loadBalancing")));
        Text.field(out, "when all targets are unhealthy", Text.of(s.path("whenAllUnhealthy")));
    }

    /** E.g. {@code https GET /healthz expecting 200-399, every 10 s (timeout 5 s), healthy after 3, unhealthy after 2}. */
    private static String healthCheck(JsonNode c) {
        String protocol = Text.of(c.path("protocol"));
        // A protocol this CLI does not know (a newer API) is shown as a request, with what it has.
        String what = switch (HealthCheckProtocol.of(protocol).orElse(HealthCheckProtocol.HTTP)) {
            case TCP -> "tcp connect";
            case TLS -> "tls handshake";
            case HTTP, HTTPS ->
                protocol + " GET " + Text.of(c.path("path")) + " expecting " + Text.of(c.path("matcher"));
        };
        return what + ", every " + Text.of(c.path("intervalSeconds")) + " s (timeout "
                + Text.of(c.path("timeoutSeconds"))
                + " s), healthy after " + Text.of(c.path("healthyThreshold")) + ", unhealthy after "
                + Text.of(c.path("unhealthyThreshold"));
    }

    /** {@code agent=state} per report; {@code agent#session=state} for an agent with more than one session. */
    private static String agents(JsonNode reports) {
        Map<String, Integer> sessions = new HashMap<>();
        reports.forEach(r -> sessions.merge(r.path("agent").asText(), 1, Integer::sum));
        return Text.printable(Text.join(reports, ", ", r -> {
            String agent = r.path("agent").asText();
            return agent + (sessions.get(agent) > 1 ? "#" + Text.of(r.path("session")) : "") + "="
                    + Text.of(r.path("state"));
        }));
    }

    private static String listener(JsonNode l) {
        return Text.of(l.path("port")) + "→" + Text.join(l.path("targets"), ",", Text::of);
    }

    private static String acceptance(JsonNode s) {
        return s.path("acceptanceRequired").asBoolean(true) ? "required" : "automatic";
    }

    private static String privateDns(JsonNode s) {
        JsonNode dns = s.path("privateDns");
        return dns.isMissingNode() ? Text.NONE : Text.of(dns.path("name")) + " (" + Text.of(dns.path("state")) + ")";
    }
}
