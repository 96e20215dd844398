package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Agent tokens: the credentials agents of the account present to the gateway, shown once. */
@Command(
        name = "agent-token",
        mixinStandardHelpOptions = true,
        description =
                "Create, list, rotate and revoke agent tokens. A new token is shown once: store it, or use --out FILE"
                        + " and give that file to 'underpass agent --token-file'.")
final class AgentTokenCommand {
    static final String LABEL = "Agent token";

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Create an agent token for your account.")
    int create(
            @Parameters(paramLabel = "NAME", description = "Which agent(s) use it, e.g. dc1.") String name,
            @Option(
                            names = "--expires-in",
                            paramLabel = "DURATION",
                            converter = DurationConverter.class,
                            description = "Expire after this long: 90d, 12h, 30m (default: never).")
                    Duration expiresIn,
            @Mixin SecretOutput secret,
            @Mixin Output output)
            throws IOException {
        secret.checkFile();
        ObjectNode body = ApiClient.JSON.createObjectNode().put("name", name);
        if (expiresIn != null) {
            body.put("expiresAt", Instant.now().plus(expiresIn).toString());
        }
        JsonNode created;
        try (ApiClient api = ApiClient.current()) {
            created = api.post("/v1/agent-tokens", body);
        }
        secret.emit(output, created, created, "token", LABEL, out -> print(out, created.path("agentToken")));
        return 0;
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the agent tokens of your account.")
    int list(
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N tokens.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/agent-tokens", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t = Table.of("ID", "NAME", "PREFIX", "STATUS", "EXPIRES", "LAST USED", "CREATED");
            page.path("items")
                    .forEach(k -> t.row(
                            Text.of(k.path("id")),
                            Text.of(k.path("name")),
                            Text.of(k.path("prefix")),
                            Text.of(k.path("status")),
                            Text.time(k.path("expiresAt")),
                            Text.time(k.path("lastUsedAt")),
                            Text.time(k.path("createdAt"))));
            t.print(out);
        });
        return 0;
    }

    @Command(
            name = "rotate",
            mixinStandardHelpOptions = true,
            description =
                    "Create a new token like token ID; the old one keeps working for the grace period, so agents can be redeployed.")
    int rotate(
            @Parameters(paramLabel = "ID") String id,
            @Option(
                            names = "--grace",
                            paramLabel = "DURATION",
                            converter = DurationConverter.class,
                            description = "How long the old token keeps working: 1h, 30m, 0s (default: the gateway's).")
                    Duration grace,
            @Mixin SecretOutput secret,
            @Mixin Output output)
            throws IOException {
        Rotation.run(
                "/v1/agent-tokens", id, grace, secret, output, "token", "agentToken", LABEL, AgentTokenCommand::print);
        return 0;
    }

    @Command(
            name = "revoke",
            mixinStandardHelpOptions = true,
            description = "Revoke token ID: its live agent sessions end, and new ones are refused.")
    int revoke(@Parameters(paramLabel = "ID") String id, @Mixin Output output) {
        JsonNode token;
        try (ApiClient api = ApiClient.current()) {
            token = api.delete("/v1/agent-tokens/" + ApiClient.segment(id));
        }
        output.print(token, out -> print(out, token));
        return 0;
    }

    private static void print(PrintWriter out, JsonNode token) {
        Text.field(out, "id", Text.of(token.path("id")));
        Text.field(out, "name", Text.of(token.path("name")));
        Text.field(out, "prefix", Text.of(token.path("prefix")));
        Text.field(out, "status", Text.of(token.path("status")));
        Text.field(out, "expires", Text.time(token.path("expiresAt")));
        Text.field(out, "last used", Text.time(token.path("lastUsedAt")));
        Text.field(out, "created", Text.time(token.path("createdAt")));
        if (token.hasNonNull("revokedAt")) {
            Text.field(out, "revoked", Text.time(token.path("revokedAt")));
        }
    }
}
