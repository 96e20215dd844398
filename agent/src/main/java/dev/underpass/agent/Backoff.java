package dev.underpass.agent;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential reconnect delays with jitter ("equal jitter": half fixed, half random), so that
 * many agents cut off together do not reconnect together.
 */
final class Backoff {
    static final Duration DEFAULT_INITIAL = Duration.ofMillis(250);
    static final Duration DEFAULT_MAX = Duration.ofSeconds(30);

    private final long initialMillis;
    private final long maxMillis;
    private int attempt;

    Backoff(Duration initial, Duration max) {
        this.initialMillis = initial.toMillis();
        this.maxMillis = max.toMillis();
    }

    /** The delay before the next attempt; each call doubles the ceiling up to the maximum. */
    synchronized Duration next() {
        long ceiling = Math.min(maxMillis, initialMillis << Math.min(attempt, 20));
        attempt++;
        long half = ceiling / 2;
        return Duration.ofMillis(half + ThreadLocalRandom.current().nextLong(half + 1));
    }

    /** Called once a session is established: the next failure starts from the initial delay. */
    synchronized void reset() {
        attempt = 0;
    }
}
