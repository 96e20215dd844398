package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Accounts (tenants), managed by the platform operator's account. */
@Command(
        name = "account",
        mixinStandardHelpOptions = true,
        description = "Create and list accounts (tenants); needs a key of the operator account.")
final class AccountCommand {
    @Command(
            name = "create",
            mixinStandardHelpOptions = true,
            description = "Create an account with its first user, an owner, and print that owner's first API key once.")
    int create(
            @Parameters(paramLabel = "NAME", description = "The account's name.") String name,
            @Option(
                            names = "--owner",
                            paramLabel = "USER",
                            description = "Name of the first user (the gateway's default: owner).")
                    String owner,
            @Mixin SecretOutput secret,
            @Mixin Output output)
            throws IOException {
        secret.checkFile();
        ObjectNode body = ApiClient.JSON.createObjectNode().put("name", name);
        if (owner != null) {
            body.put("owner", owner);
        }
        JsonNode created;
        try (ApiClient api = ApiClient.current()) {
            created = api.post("/v1/accounts", body);
        }
        String user = Text.of(created.at("/owner/name"));
        secret.emit(output, created, created.path("ownerKey"), "key", "API key of " + user + "@" + name, out -> {
            Text.field(out, "account", Text.of(created.at("/account/name")));
            Text.field(out, "owner", user + " (role " + Text.of(created.at("/owner/role")) + ")");
            Text.field(
                    out,
                    "owner's API key id",
                    Text.of(created.at("/ownerKey/apiKey/id"))
                            + " (its id, as key lists show it; the key itself follows)");
        });
        return 0;
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List every account.")
    int list(
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N accounts.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/accounts", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t = Table.of("NAME", "OPERATOR", "CREATED");
            page.path("items")
                    .forEach(a -> t.row(
                            Text.of(a.path("name")),
                            a.path("operator").asBoolean() ? "yes" : "no",
                            Text.time(a.path("createdAt"))));
            t.print(out);
        });
        return 0;
    }
}
