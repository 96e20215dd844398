package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.Optional;

/** How agents check a target: a TCP connect (the default), an HTTP(S) request, or a TLS handshake. */
public enum HealthCheckProtocol {
    TCP("tcp"),
    HTTP("http"),
    HTTPS("https"),
    TLS("tls");

    public static final HealthCheckProtocol DEFAULT = TCP;

    private final String text;

    HealthCheckProtocol(String text) {
        this.text = text;
    }

    /** As the API, the store and the agents spell it. */
    @JsonValue
    public String text() {
        return text;
    }

    /** Whether the check sends a request, and so has a path and a status matcher. */
    public boolean sendsRequest() {
        return this == HTTP || this == HTTPS;
    }

    /** The protocol spelled {@code text} (lowercase), if any (requests are checked where every error is collected). */
    public static Optional<HealthCheckProtocol> of(String text) {
        return Arrays.stream(values()).filter(v -> v.text.equals(text)).findFirst();
    }

    @Override
    public String toString() {
        return text;
    }
}
