package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.underpass.controlplane.audit.AuditChain;
import dev.underpass.controlplane.audit.AuditRecord;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The account's audit log: its records, and a check of its hash chain computed here, from the
 * records the API lists, so that it does not rest on the gateway's word (ADR 0014).
 */
@Command(
        name = "audit",
        mixinStandardHelpOptions = true,
        description = "List your account's audit events, and verify their hash chain on this machine.")
final class AuditCommand {
    /** Exit code of {@code verify} for a broken chain (1 is an API refusal, 2 a usage error). */
    static final int BROKEN = 3;
    /** Records fetched per request while verifying (the API's largest page). */
    static final int PAGE = 500;

    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description = "List audit events: changes made in or to your account, and consumer connections.")
    int list(
            @Option(
                            names = "--since",
                            paramLabel = "TIME|DURATION",
                            description = "Only events at or after this ISO-8601 time, or this long ago: 24h, 7d.")
                    String since,
            @Option(names = "--until", paramLabel = "TIME", description = "Only events before this ISO-8601 time.")
                    String until,
            @Option(
                            names = "--action",
                            paramLabel = "ACTION",
                            description = "Only this action (service.create), or a prefix ending in * (endpoint.*).")
                    String action,
            @Option(
                            names = "--target",
                            paramLabel = "TYPE:ID",
                            description = "Only events about this target: service:acme/git.")
                    String target,
            @Option(
                            names = "--account",
                            paramLabel = "ACCOUNT",
                            description = "Another account's events (operator only).")
                    String account,
            @Option(names = "--limit", paramLabel = "N", description = "Show at most N events.") Integer limit,
            @Mixin Output output) {
        Map<String, String> query = new LinkedHashMap<>();
        query.put(
                "since", since == null ? null : instant("--since", since, true).toString());
        query.put(
                "until", until == null ? null : instant("--until", until, false).toString());
        query.put("action", action);
        query.put("target", target);
        query.put("account", account);
        ObjectNode page;
        try (ApiClient api = ApiClient.current()) {
            page = api.list("/v1/audit-events", query, limit);
        }
        output.print(page, out -> {
            Table t = Table.of("SEQ", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAILS");
            page.path("items")
                    .forEach(e -> t.row(
                            Text.of(e.path("seq")),
                            Text.time(e.path("at")),
                            Text.printable(Text.of(e.path("actor"))),
                            Text.of(e.path("action")),
                            Text.printable(Text.of(e.path("target"))),
                            Text.printable(Text.of(e.path("outcome"))),
                            Text.printable(Text.of(e.path("details")))));
            t.print(out);
        });
        return 0;
    }

    @Command(
            name = "verify",
            mixinStandardHelpOptions = true,
            description = {
                "Fetch every record of your account's audit chain and recompute the chain here: seqs from 1 "
                        + "without gaps, each record linked to the one before by its hash, each hash recomputed from the "
                        + "record's fields.",
                "Exits with " + BROKEN + " and the first bad seq when the chain is broken."
            })
    int verify(
            @Option(
                            names = "--account",
                            paramLabel = "ACCOUNT",
                            description = "Another account's chain (operator only).")
                    String account,
            @Option(
                            names = "--expect-head",
                            paramLabel = "SEQ:HASH",
                            description =
                                    "A head the gateway logged earlier ('audit heads:' lines): the chain must pass through "
                                            + "it. Repeatable.")
                    List<String> heads,
            @Mixin Output output) {
        AuditChain.Verifier verifier;
        try (ApiClient api = ApiClient.current()) {
            verifier = new AuditChain.Verifier(
                    account != null
                            ? account
                            : api.get("/v1/whoami").path("account").asText());
            for (String h : heads == null ? List.<String>of() : heads) {
                verifier.expect(head("--expect-head", h));
            }
            String token = null;
            do {
                Map<String, String> q = new LinkedHashMap<>();
                q.put("limit", String.valueOf(PAGE));
                q.put("account", account);
                q.put("pageToken", token);
                JsonNode page = api.get("/v1/audit-events?"
                        + q.entrySet().stream()
                                .filter(e -> e.getValue() != null)
                                .map(e -> e.getKey() + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
                                .collect(Collectors.joining("&")));
                for (JsonNode n : page.path("items")) {
                    verifier.add(record(n));
                }
                token = page.path("nextPageToken").asText(null);
            } while (token != null);
        }
        AuditChain.Verification v = verifier.result();
        ObjectNode json = ApiClient.JSON.valueToTree(v);
        output.print(json, out -> {
            String head = v.head().seq() + ":" + v.head().hash();
            if (v.valid()) {
                out.println(v.account() + ": " + v.records() + " record(s) checked, chain intact; head " + head);
            } else {
                out.println(v.account() + ": chain BROKEN at seq " + v.firstBadSeq() + ": " + v.problem());
                out.println(v.account() + ": " + v.records() + " record(s) read; last " + head);
            }
        });
        return v.valid() ? 0 : BROKEN;
    }

    /** A head as the gateway logs it, named by its option when malformed. */
    static AuditChain.Head head(String option, String text) {
        try {
            return AuditChain.parseHead(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + ": " + e.getMessage().substring("head: ".length()), e);
        }
    }

    /** A record as the API lists it; {@code details} is the JSON text exactly as hashed. */
    static AuditRecord record(JsonNode n) {
        for (String field : List.of(
                "account", "seq", "id", "at", "actor", "action", "target", "outcome", "details", "prevHash", "hash")) {
            if (!n.hasNonNull(field)) {
                throw new ApiError(0, "the gateway listed an audit record without '" + field + "': " + n);
            }
        }
        return new AuditRecord(
                n.get("account").asText(),
                n.get("seq").asLong(),
                n.get("id").asText(),
                Instant.parse(n.get("at").asText()),
                n.get("actor").asText(),
                n.get("action").asText(),
                n.get("target").asText(),
                n.get("outcome").asText(),
                n.get("details").asText(),
                n.get("prevHash").asText(),
                n.get("hash").asText());
    }

    /** An ISO-8601 instant, or (when {@code ago}) a duration back from now. */
    private static Instant instant(String option, String text, boolean ago) {
        try {
            return Instant.parse(text);
        } catch (DateTimeParseException notAnInstant) {
            if (ago) {
                try {
                    Duration d = new DurationConverter().convert(text);
                    return Instant.now().minus(d);
                } catch (RuntimeException notADuration) {
                    // the message below says what is expected
                }
            }
        }
        throw new IllegalArgumentException(option + ": '" + text + "' (expected: an ISO-8601 time such as "
                + "2026-01-31T12:00:00Z" + (ago ? ", or a duration back from now such as 24h or 7d)" : ")"));
    }
}
