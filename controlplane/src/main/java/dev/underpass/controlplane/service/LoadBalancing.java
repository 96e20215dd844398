package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.Optional;

/** How connections spread over the healthy targets of a service's target group; the first is the default. */
public enum LoadBalancing {
    LEAST_OUTSTANDING("leastOutstanding"),
    ROUND_ROBIN("roundRobin");

    public static final LoadBalancing DEFAULT = LEAST_OUTSTANDING;

    private final String text;

    LoadBalancing(String text) {
        this.text = text;
    }

    /** As the API and the store spell it. */
    @JsonValue
    public String text() {
        return text;
    }

    /** The value spelled {@code text}, if any (requests are checked where every error is collected). */
    public static Optional<LoadBalancing> of(String text) {
        return Arrays.stream(values()).filter(v -> v.text.equals(text)).findFirst();
    }

    @Override
    public String toString() {
        return text;
    }
}
