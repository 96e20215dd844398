package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The client certificates agents obtained by enrollment: list them, revoke one. */
@Command(
        name = "agent-certificate",
        mixinStandardHelpOptions = true,
        description = "List and revoke the client certificates of your account's enrolled agents.")
final class AgentCertificateCommand {
    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description = "List the agent certificates of your account.")
    int list(
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N certificates.") Integer limit,
            @Mixin Output output) {
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/agent-certificates", Map.of(), limit);
        }
        output.print(page, out -> {
            Table t = Table.of("ID", "NAME", "STATUS", "EXPIRES", "ENROLLMENT", "FINGERPRINT");
            page.path("items")
                    .forEach(c -> t.row(
                            Text.of(c.path("id")),
                            Text.of(c.path("name")),
                            Text.of(c.path("status")),
                            Text.time(c.path("notAfter")),
                            Text.of(c.path("enrollmentId")),
                            Text.of(c.path("fingerprint"))));
            t.print(out);
        });
        return 0;
    }

    @Command(
            name = "revoke",
            mixinStandardHelpOptions = true,
            description = "Revoke certificate ID: its live agent sessions end, and the gateway refuses it afterwards.")
    int revoke(@Parameters(paramLabel = "ID") String id, @Mixin Output output) {
        JsonNode c;
        try (ApiClient api = ApiClient.current()) {
            c = api.delete("/v1/agent-certificates/" + ApiClient.segment(id));
        }
        output.print(c, out -> print(out, c));
        return 0;
    }

    private static void print(PrintWriter out, JsonNode c) {
        Text.field(out, "id", Text.of(c.path("id")));
        Text.field(out, "name", Text.of(c.path("name")));
        Text.field(out, "status", Text.of(c.path("status")));
        Text.field(out, "expires", Text.time(c.path("notAfter")));
        Text.field(out, "fingerprint", Text.of(c.path("fingerprint")));
        if (c.hasNonNull("revokedAt")) {
            Text.field(out, "revoked", Text.time(c.path("revokedAt")));
        }
    }
}
