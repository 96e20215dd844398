package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Agent identities (OIDC workload identity): which JWTs of an issuer the operator trusts may run
 * agents of the account, with no stored secret. The agent runs with {@code --identity ID} and
 * {@code --oidc-token-file FILE}.
 */
@Command(
        name = "agent-identity",
        mixinStandardHelpOptions = true,
        description = "Create, list and delete agent identities: agents authenticate with a JWT from their environment "
                + "(a Kubernetes service-account token, a CI job token) instead of a stored agent token.")
final class AgentIdentityCommand {
    @Command(
            name = "create",
            mixinStandardHelpOptions = true,
            description = "Trust JWTs of ISSUER for SUBJECT (and the given claims) to run agents of your account.")
    int create(
            @Parameters(paramLabel = "NAME", description = "Which agent(s) use it, e.g. k8s-edge.") String name,
            @Option(
                            names = "--issuer",
                            required = true,
                            paramLabel = "URL",
                            description = "The JWTs' issuer (iss): one the gateway's operator trusts.")
                    String issuer,
            @Option(
                            names = "--subject",
                            required = true,
                            paramLabel = "SUB",
                            description =
                                    "The JWTs' subject (sub), exact or a prefix ending in '*', e.g. system:serviceaccount:edge:*.")
                    String subject,
            @Option(
                            names = "--claim",
                            paramLabel = "NAME=VALUE",
                            description =
                                    "Another claim the JWT must carry with exactly this value, e.g. repository_owner=acme; repeatable.")
                    List<String> claims,
            @Mixin Output output) {
        ObjectNode body = ApiClient.JSON
                .createObjectNode()
                .put("name", name)
                .put("issuer", issuer)
                .put("subject", subject);
        ObjectNode c = body.putObject("claims");
        for (String claim : claims == null ? List.<String>of() : claims) {
            int eq = claim.indexOf('=');
            if (eq < 1) {
                throw new IllegalArgumentException(
                        "--claim: " + claim + " (expected: NAME=VALUE, e.g. repository_owner=acme)");
            }
            c.put(claim.substring(0, eq), claim.substring(eq + 1));
        }
        JsonNode created;
        try (ApiClient api = ApiClient.current()) {
            created = api.post("/v1/agent-identities", body);
        }
        output.print(created, out -> {
            print(out, created);
            out.println();
            out.println("Run the agent with: underpass agent --identity "
                    + created.path("id").asText() + " --oidc-token-file FILE ...");
        });
        return 0;
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the agent identities of your account.")
    int list(
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N identities.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/agent-identities", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t = Table.of("ID", "NAME", "ISSUER", "SUBJECT", "CLAIMS", "LAST USED", "CREATED");
            page.path("items")
                    .forEach(i -> t.row(
                            Text.of(i.path("id")),
                            Text.of(i.path("name")),
                            Text.of(i.path("issuer")),
                            Text.of(i.path("subject")),
                            claims(i.path("claims")),
                            Text.time(i.path("lastUsedAt")),
                            Text.time(i.path("createdAt"))));
            t.print(out);
        });
        return 0;
    }

    @Command(
            name = "delete",
            mixinStandardHelpOptions = true,
            description = "Delete identity ID: its live agent sessions end at once, and new ones are refused.")
    int delete(@Parameters(paramLabel = "ID") String id, @Mixin Output output) {
        JsonNode deleted;
        try (ApiClient api = ApiClient.current()) {
            deleted = api.delete("/v1/agent-identities/" + ApiClient.segment(id));
        }
        output.print(
                deleted,
                out -> out.println("deleted agent identity " + Text.of(deleted.path("id")) + " ("
                        + Text.of(deleted.path("name")) + "); its agent sessions ended"));
        return 0;
    }

    private static String claims(JsonNode claims) {
        List<String> c = new ArrayList<>();
        claims.properties().forEach(e -> c.add(e.getKey() + "=" + e.getValue().asText()));
        return c.isEmpty() ? Text.NONE : Text.printable(String.join(",", c));
    }

    private static void print(PrintWriter out, JsonNode identity) {
        Text.field(out, "id", Text.of(identity.path("id")));
        Text.field(out, "name", Text.of(identity.path("name")));
        Text.field(out, "issuer", Text.of(identity.path("issuer")));
        Text.field(out, "subject", Text.of(identity.path("subject")));
        Text.field(out, "claims", claims(identity.path("claims")));
        Text.field(out, "last used", Text.time(identity.path("lastUsedAt")));
        Text.field(out, "created", Text.time(identity.path("createdAt")));
    }
}
