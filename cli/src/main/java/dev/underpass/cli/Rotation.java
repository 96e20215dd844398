package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.function.BiConsumer;

/** The body of a rotation, shared by API keys and agent tokens: the grace period in seconds. */
final class Rotation {
    private Rotation() {}

    /**
     * Rotates {@code collection/id} (e.g. {@code /v1/api-keys}) and emits the new secret, found in
     * field {@code secretField}, with the metadata in {@code viewField} printed by {@code print}.
     */
    static void run(
            String collection,
            String id,
            Duration grace,
            SecretOutput secret,
            Output output,
            String secretField,
            String viewField,
            String label,
            BiConsumer<PrintWriter, JsonNode> print)
            throws IOException {
        secret.checkFile();
        JsonNode created;
        try (ApiClient api = ApiClient.current()) {
            created = api.post(collection + "/" + ApiClient.segment(id) + "/rotate", body(grace));
        }
        secret.emit(output, created, created, secretField, label, out -> {
            print.accept(out, created.path(viewField));
            Text.field(out, "replaces", id + describe(grace));
        });
    }

    /** {@code {"gracePeriodSeconds": n}}, or {@code {}} for the gateway's default. */
    static ObjectNode body(Duration grace) {
        ObjectNode body = ApiClient.JSON.createObjectNode();
        return grace == null ? body : body.put("gracePeriodSeconds", grace.toSeconds());
    }

    /**
     * What happens to the old secret, as far as the client can tell: the API answers with the new
     * secret only, not with the old one's new expiry (which is earlier if it expired sooner anyway).
     */
    static String describe(Duration grace) {
        if (grace == null) {
            return " (keeps working for the gateway's default grace period)";
        }
        if (grace.isZero()) {
            return " (stopped working now)";
        }
        return " (keeps working until about " + Instant.now().plus(grace).truncatedTo(ChronoUnit.SECONDS) + ")";
    }
}
