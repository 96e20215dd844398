package dev.underpass.controlplane.credential;

import com.fasterxml.jackson.annotation.JsonValue;
import java.time.Instant;

/**
 * Whether an API key, an agent token or an agent certificate works: {@code active} until it is
 * revoked or expires. Not stored: it follows from the revocation and expiry times.
 */
public enum CredentialStatus {
    ACTIVE("active"),
    EXPIRED("expired"),
    REVOKED("revoked");

    private final String text;

    CredentialStatus(String text) {
        this.text = text;
    }

    /** The status at {@code now} of a credential revoked at {@code revokedAt} (or never), expiring at {@code expiresAt} (or never). */
    static CredentialStatus of(Instant revokedAt, Instant expiresAt, Instant now) {
        if (revokedAt != null) {
            return REVOKED;
        }
        if (expiresAt != null && !expiresAt.isAfter(now)) {
            return EXPIRED;
        }
        return ACTIVE;
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
