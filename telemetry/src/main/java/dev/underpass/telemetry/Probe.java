package dev.underpass.telemetry;

import java.util.Objects;
import java.util.Optional;

/**
 * One named readiness condition, shown on {@code /readyz} as {@code name: ok} or
 * {@code name: failed: problem}. It is evaluated on every request, on the ops server's event
 * loop: it must be cheap and must not block (read a flag or a counter kept up to date elsewhere,
 * never dial or query).
 *
 * @param name short and stable, for example {@code store} or {@code gateway-session}
 * @param check what is wrong right now, if anything
 */
public record Probe(String name, Check check) {
    /** Why the process is not ready, or empty when it is. */
    @FunctionalInterface
    public interface Check {
        /**
         * @return empty when ready, otherwise one line for an operator (it is served to whoever
         *     reaches the ops port: no secrets)
         */
        Optional<String> problem();
    }

    public Probe {
        if (name == null || name.isBlank() || name.chars().anyMatch(c -> Character.isISOControl(c) || c == ':')) {
            throw new IllegalArgumentException("probe name: " + name + " (expected: one line without ':')");
        }
        Objects.requireNonNull(check, "check");
    }

    /** The check's answer; a check that throws or returns null counts as failing, with that as its problem. */
    Optional<String> evaluate() {
        Optional<String> problem;
        try {
            problem = check.problem();
        } catch (RuntimeException e) {
            return Optional.of("check threw " + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
        return problem == null ? Optional.of("check returned null") : problem;
    }
}
