package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.Optional;

/**
 * What a listener does when none of its targets is healthy: {@code failOpen} (the default) uses
 * them all anyway, as an NLB does; {@code failClosed} refuses the connections.
 */
public enum WhenAllUnhealthy {
    FAIL_OPEN("failOpen"),
    FAIL_CLOSED("failClosed");

    public static final WhenAllUnhealthy DEFAULT = FAIL_OPEN;

    private final String text;

    WhenAllUnhealthy(String text) {
        this.text = text;
    }

    /** As the API and the store spell it. */
    @JsonValue
    public String text() {
        return text;
    }

    /** The value spelled {@code text}, if any (requests are checked where every error is collected). */
    public static Optional<WhenAllUnhealthy> of(String text) {
        return Arrays.stream(values()).filter(v -> v.text.equals(text)).findFirst();
    }

    @Override
    public String toString() {
        return text;
    }
}
