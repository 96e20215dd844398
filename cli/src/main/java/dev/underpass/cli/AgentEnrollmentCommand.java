package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** One-time enrollment tokens: an agent exchanges one for a client certificate (mutual TLS). */
@Command(
        name = "agent-enrollment",
        mixinStandardHelpOptions = true,
        description =
                "Create, list and delete one-time agent enrollment tokens. An agent exchanges one, once, for a client"
                        + " certificate with 'underpass agent enroll --enrollment-token-file FILE'.")
final class AgentEnrollmentCommand {
    static final String LABEL = "Enrollment token";

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Create a one-time enrollment token.")
    int create(
            @Parameters(paramLabel = "NAME", description = "The agent's name, e.g. dc1.") String name,
            @Option(
                            names = "--expires-in",
                            paramLabel = "DURATION",
                            converter = DurationConverter.class,
                            description = "The token works for this long: 1h, 30m, up to 24h (default: 1h).")
                    Duration expiresIn,
            @Mixin SecretOutput secret,
            @Mixin Output output)
            throws IOException {
        secret.checkFile();
        ObjectNode body = ApiClient.JSON.createObjectNode().put("name", name);
        if (expiresIn != null) {
            body.put("expiresInSeconds", expiresIn.toSeconds());
        }
        JsonNode created;
        try (ApiClient api = ApiClient.current()) {
            created = api.post("/v1/agent-enrollments", body);
        }
        secret.emit(output, created, created, "token", LABEL, out -> print(out, created.path("enrollment")));
        return 0;
    }

    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description = "List the enrollment tokens of your account.")
    int list(
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N enrollments.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/agent-enrollments", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t = Table.of("ID", "NAME", "PREFIX", "STATUS", "EXPIRES", "USED", "CREATED");
            page.path("items")
                    .forEach(e -> t.row(
                            Text.of(e.path("id")),
                            Text.of(e.path("name")),
                            Text.of(e.path("prefix")),
                            Text.of(e.path("status")),
                            Text.time(e.path("expiresAt")),
                            Text.time(e.path("usedAt")),
                            Text.time(e.path("createdAt"))));
            t.print(out);
        });
        return 0;
    }

    @Command(
            name = "delete",
            mixinStandardHelpOptions = true,
            description =
                    "Delete enrollment ID: its token stops working if unused (revoke certificates with 'agent-certificate revoke').")
    int delete(@Parameters(paramLabel = "ID") String id, @Mixin Output output) {
        try (ApiClient api = ApiClient.current()) {
            api.delete("/v1/agent-enrollments/" + ApiClient.segment(id));
        }
        if (!output.json()) { // 204: there is no JSON to print
            output.out().println("deleted agent enrollment " + id);
            output.out().flush();
        }
        return 0;
    }

    private static void print(PrintWriter out, JsonNode e) {
        Text.field(out, "id", Text.of(e.path("id")));
        Text.field(out, "name", Text.of(e.path("name")));
        Text.field(out, "prefix", Text.of(e.path("prefix")));
        Text.field(out, "status", Text.of(e.path("status")));
        Text.field(out, "expires", Text.time(e.path("expiresAt")));
    }
}
