package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The users of the caller's account and their roles. */
@Command(
        name = "user",
        mixinStandardHelpOptions = true,
        description =
                "Create, list, change and delete the users of your account (roles: owner, admin, member, viewer).")
final class UserCommand {
    @Command(name = "create", mixinStandardHelpOptions = true, description = "Create a user.")
    int create(
            @Parameters(paramLabel = "NAME") String name,
            @Option(
                            names = "--role",
                            required = true,
                            paramLabel = "ROLE",
                            description = "owner, admin, member or viewer.")
                    String role,
            @Option(
                            names = "--oidc-subject",
                            paramLabel = "SUB",
                            description = "The sub claim of the OIDC tokens that "
                                    + "log in as this user (the gateway's oidcUsers issuer).")
                    String oidcSubject,
            @Mixin Output output) {
        JsonNode user;
        try (ApiClient api = ApiClient.current()) {
            ObjectNode body =
                    ApiClient.JSON.createObjectNode().put("name", name).put("role", role);
            if (oidcSubject != null) {
                body.put("oidcSubject", oidcSubject);
            }
            user = api.post("/v1/users", body);
        }
        output.print(user, out -> print(out, user));
        return 0;
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the users of your account.")
    int list(
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N users.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/users", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t = Table.of("NAME", "ROLE", "CREATED");
            page.path("items")
                    .forEach(u ->
                            t.row(Text.of(u.path("name")), Text.of(u.path("role")), Text.time(u.path("createdAt"))));
            t.print(out);
        });
        return 0;
    }

    @Command(name = "update", mixinStandardHelpOptions = true, description = "Change a user's role or OIDC subject.")
    int update(
            @Parameters(paramLabel = "NAME") String name,
            @Option(names = "--role", paramLabel = "ROLE", description = "owner, admin, member or viewer.") String role,
            @Option(
                            names = "--oidc-subject",
                            paramLabel = "SUB",
                            description = "The sub claim that logs in as this " + "user through OIDC; \"\" removes it.")
                    String oidcSubject,
            @Mixin Output output) {
        if (role == null && oidcSubject == null) {
            throw new IllegalArgumentException(
                    "nothing to change (expected: --role ROLE, --oidc-subject SUB, or both)");
        }
        JsonNode user;
        try (ApiClient api = ApiClient.current()) {
            ObjectNode body = ApiClient.JSON.createObjectNode();
            if (role != null) {
                body.put("role", role);
            }
            if (oidcSubject != null) {
                body.put("oidcSubject", oidcSubject);
            }
            user = api.patch("/v1/users/" + ApiClient.segment(name), body);
        }
        output.print(user, out -> print(out, user));
        return 0;
    }

    @Command(
            name = "delete",
            mixinStandardHelpOptions = true,
            description = "Delete a user and every API key of that user.")
    int delete(@Parameters(paramLabel = "NAME") String name, @Mixin Output output) {
        try (ApiClient api = ApiClient.current()) {
            api.delete("/v1/users/" + ApiClient.segment(name));
        }
        if (!output.json()) { // 204: there is no JSON to print
            output.out().println("deleted user " + name + " and its API keys");
            output.out().flush();
        }
        return 0;
    }

    private static void print(PrintWriter out, JsonNode user) {
        Text.field(out, "name", Text.of(user.path("name")));
        Text.field(out, "role", Text.of(user.path("role")));
        if (user.hasNonNull("oidcSubject")) {
            Text.field(out, "OIDC subject", Text.of(user.path("oidcSubject")));
        }
        Text.field(out, "created", Text.time(user.path("createdAt")));
    }
}
