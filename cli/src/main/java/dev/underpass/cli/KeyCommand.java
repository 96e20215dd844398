package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** API keys: the credentials of users, shown once when created or rotated. */
@Command(
        name = "key",
        mixinStandardHelpOptions = true,
        description = "Create, list, rotate and revoke API keys. A new key is shown once: store it, or use --out FILE.")
final class KeyCommand {
    static final String LABEL = "API key";

    @Command(
            name = "create",
            mixinStandardHelpOptions = true,
            description = "Create an API key for yourself or (admins) for another user of your account.")
    int create(
            @Parameters(paramLabel = "NAME", description = "What the key is for, e.g. ci.") String name,
            @Option(names = "--user", paramLabel = "USER", description = "Whose key it is (default: yours).")
                    String user,
            @Option(
                            names = "--scope",
                            paramLabel = "SCOPE",
                            description =
                                    "Narrow the key to this scope, e.g. endpoints:connect for a CI runner; repeatable (default: all of the user's role).")
                    List<String> scopes,
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
        if (user != null) {
            body.put("user", user);
        }
        if (scopes != null) {
            scopes.forEach(body.putArray("scopes")::add);
        }
        if (expiresIn != null) {
            body.put("expiresAt", Instant.now().plus(expiresIn).toString());
        }
        JsonNode created;
        try (ApiClient api = ApiClient.current()) {
            created = api.post("/v1/api-keys", body);
        }
        secret.emit(output, created, created, "key", LABEL, out -> print(out, created.path("apiKey")));
        return 0;
    }

    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description = "List your API keys (admins: every key of the account).")
    int list(
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N keys.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/api-keys", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t = Table.of("ID", "NAME", "USER", "PREFIX", "SCOPES", "STATUS", "EXPIRES", "LAST USED", "CREATED");
            page.path("items")
                    .forEach(k -> t.row(
                            Text.of(k.path("id")),
                            Text.of(k.path("name")),
                            Text.of(k.path("user")),
                            Text.of(k.path("prefix")),
                            scopes(k),
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
            description = "Create a new key like key ID; the old one keeps working for the grace period, then expires.")
    int rotate(
            @Parameters(paramLabel = "ID") String id,
            @Option(
                            names = "--grace",
                            paramLabel = "DURATION",
                            converter = DurationConverter.class,
                            description = "How long the old key keeps working: 1h, 30m, 0s (default: the gateway's).")
                    Duration grace,
            @Mixin SecretOutput secret,
            @Mixin Output output)
            throws IOException {
        Rotation.run("/v1/api-keys", id, grace, secret, output, "key", "apiKey", LABEL, KeyCommand::print);
        return 0;
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true, description = "Revoke key ID at once.")
    int revoke(@Parameters(paramLabel = "ID") String id, @Mixin Output output) {
        JsonNode key;
        try (ApiClient api = ApiClient.current()) {
            key = api.delete("/v1/api-keys/" + ApiClient.segment(id));
        }
        output.print(key, out -> print(out, key));
        return 0;
    }

    private static String scopes(JsonNode key) {
        return key.path("scopes").isArray() ? Text.join(key.path("scopes"), " ", Text::of) : "(role)";
    }

    private static void print(PrintWriter out, JsonNode key) {
        Text.field(out, "id", Text.of(key.path("id")));
        Text.field(out, "name", Text.of(key.path("name")));
        Text.field(out, "user", Text.of(key.path("user")));
        Text.field(out, "prefix", Text.of(key.path("prefix")));
        Text.field(out, "scopes", key.path("scopes").isArray() ? scopes(key) : "all of the user's role");
        Text.field(out, "status", Text.of(key.path("status")));
        Text.field(out, "expires", Text.time(key.path("expiresAt")));
        Text.field(out, "last used", Text.time(key.path("lastUsedAt")));
        Text.field(out, "created", Text.time(key.path("createdAt")));
        if (key.hasNonNull("revokedAt")) {
            Text.field(out, "revoked", Text.time(key.path("revokedAt")));
        }
    }
}
