package dev.underpass.controlplane.credential;

import com.fasterxml.jackson.annotation.JsonValue;
import java.time.Instant;

/**
 * Where a one-time enrollment token stands: {@code pending} until an agent exchanges it
 * ({@code used}) or it runs out ({@code expired}). Not stored: it follows from its times.
 */
public enum EnrollmentStatus {
    PENDING("pending"),
    USED("used"),
    EXPIRED("expired");

    private final String text;

    EnrollmentStatus(String text) {
        this.text = text;
    }

    /** The status at {@code now} of a token used at {@code usedAt} (or not yet), expiring at {@code expiresAt}. */
    static EnrollmentStatus of(Instant usedAt, Instant expiresAt, Instant now) {
        if (usedAt != null) {
            return USED;
        }
        return expiresAt.isAfter(now) ? PENDING : EXPIRED;
    }

    /** As the API spells it. */
    @JsonValue
    public String text() {
        return text;
    }

    @Override
    public String toString() {
        return text;
    }
}
