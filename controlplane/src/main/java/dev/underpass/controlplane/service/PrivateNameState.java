package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;

/**
 * The verification state of a service's private DNS name: {@code pendingVerification} until its
 * provider asks for a check, then {@code verified} or {@code failed} after each one. Only a
 * verified name is given to consumers.
 */
public enum PrivateNameState {
    PENDING_VERIFICATION("pendingVerification"),
    VERIFIED("verified"),
    FAILED("failed");

    private final String text;

    PrivateNameState(String text) {
        this.text = text;
    }

    /** As the API and the store spell it. */
    @JsonValue
    public String text() {
        return text;
    }

    /** The state spelled {@code text}; anything else is refused (the store holds only these). */
    public static PrivateNameState parse(String text) {
        return Arrays.stream(values())
                .filter(v -> v.text.equals(text))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException(
                        "private DNS name state '" + text + "' (expected: " + Arrays.toString(values()) + ")"));
    }

    @Override
    public String toString() {
        return text;
    }
}
