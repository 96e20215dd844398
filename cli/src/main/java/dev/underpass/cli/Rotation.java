package dev.underpass.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/** The body of a rotation, shared by API keys and agent tokens: the grace period in seconds. */
final class Rotation {
    private Rotation() {
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
