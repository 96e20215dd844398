package dev.underpass.controlplane.endpoint;

import dev.underpass.controlplane.core.Refused;
import java.util.List;

/** Which endpoints a list shows: the caller's own ({@code consumer}) or those of its services ({@code provider}). */
public enum Side {
    CONSUMER("consumer"),
    PROVIDER("provider");

    private final String text;

    Side(String text) {
        this.text = text;
    }

    public String text() {
        return text;
    }

    /** The side spelled {@code text}; absent means {@link #CONSUMER}. */
    static Side parse(String text) {
        if (text == null) {
            return CONSUMER;
        }
        for (Side s : values()) {
            if (s.text.equals(text)) {
                return s;
            }
        }
        throw Refused.invalid(List.of("side: '" + text + "' (expected: consumer or provider)"));
    }

    @Override
    public String toString() {
        return text;
    }
}
