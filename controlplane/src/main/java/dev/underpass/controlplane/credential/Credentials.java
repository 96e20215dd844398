package dev.underpass.controlplane.credential;

import dev.underpass.controlplane.core.Refused;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** What API keys and agent tokens share: expiry and the grace period of a rotation ({@link CredentialStatus} for their status). */
final class Credentials {
    /** How long a rotated secret keeps working unless the caller says otherwise. */
    static final Duration DEFAULT_ROTATION_GRACE = Duration.ofHours(1);

    static final Duration MAX_ROTATION_GRACE = Duration.ofDays(30);

    private Credentials() {}

    /** The furthest expiry a secret may have. */
    static final Duration MAX_LIFETIME = Duration.ofDays(3660);

    static void checkExpiry(List<String> errors, Instant expiresAt, Instant now) {
        if (expiresAt != null && !expiresAt.isAfter(now)) {
            errors.add("expiresAt: " + expiresAt + " (expected: a time in the future, or none)");
        } else if (expiresAt != null && expiresAt.isAfter(now.plus(MAX_LIFETIME))) {
            errors.add("expiresAt: " + expiresAt + " (expected: within " + MAX_LIFETIME.toDays() + " days, or none)");
        }
    }

    /** The grace period of a rotation, from seconds given by the caller (null: the default). */
    static Duration grace(Long seconds) {
        if (seconds == null) {
            return DEFAULT_ROTATION_GRACE;
        }
        if (seconds < 0 || seconds > MAX_ROTATION_GRACE.toSeconds()) {
            throw Refused.invalid(List.of(
                    "gracePeriodSeconds: " + seconds + " (expected: 0-" + MAX_ROTATION_GRACE.toSeconds() + ")"));
        }
        return Duration.ofSeconds(seconds);
    }

    /** When the old secret of a rotation stops working: the earlier of its own expiry and the grace. */
    static Instant endOfGrace(Instant expiresAt, Instant now, Duration grace) {
        Instant end = now.plus(grace);
        return expiresAt != null && expiresAt.isBefore(end) ? expiresAt : end;
    }

    /** Last-used times are written at most this often per secret, to keep reads from writing. */
    static final Duration LAST_USED_RESOLUTION = Duration.ofSeconds(60);
}
