package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonValue;

/**
 * The health of a target. One agent session reports {@code healthy}, {@code unhealthy},
 * {@code initial} before its first verdict, or {@code draining} while its agent drains; a
 * target's summary of those reports is {@code healthy}, {@code unhealthy}, {@code initial}, or
 * {@code unavailable} when no live agent session serves it.
 */
public enum HealthState {
    HEALTHY("healthy"),
    UNHEALTHY("unhealthy"),
    INITIAL("initial"),
    /** A report's state only: it counts as not healthy. */
    DRAINING("draining"),
    /** A target's summary only: nothing is known of it. */
    UNAVAILABLE("unavailable");

    private final String text;

    HealthState(String text) {
        this.text = text;
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
