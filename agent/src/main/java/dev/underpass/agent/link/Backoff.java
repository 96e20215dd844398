package dev.underpass.agent.link;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;

/**
 * Reconnect delays: exponential with jitter ("equal jitter": half fixed, half random), so that
 * many agents cut off together do not reconnect together, but never more than about a second
 * while the gateway is known to be coming back: when its host refused the connection (it is up,
 * the gateway process is not listening yet: a restart) or when the gateway said, as it stopped,
 * to come back quickly. A restarted gateway then has its agents back within about a second
 * (issue 12), instead of after a backoff grown during the restart.
 */
final class Backoff {
    static final Duration DEFAULT_INITIAL = Duration.ofMillis(250);
    static final Duration DEFAULT_MAX = Duration.ofSeconds(30);
    /** The most a refused connection waits before the next attempt. */
    static final Duration QUICK_MAX = Duration.ofSeconds(1);
    /** How long a stopping gateway's request to come back quickly holds. */
    static final Duration QUICK_WINDOW = Duration.ofMinutes(2);

    private final long initialMillis;
    private final long maxMillis;
    private final LongSupplier nanoTime;
    private int attempt;
    /** While nanoTime is before this, attempts follow quickMillis. */
    private long quickUntil;

    private long quickMillis;

    Backoff(Duration initial, Duration max) {
        this(initial, max, System::nanoTime);
    }

    Backoff(Duration initial, Duration max, LongSupplier nanoTime) {
        this.initialMillis = initial.toMillis();
        this.maxMillis = max.toMillis();
        this.nanoTime = nanoTime;
        this.quickUntil = nanoTime.getAsLong();
    }

    /** The delay before the next attempt; each call doubles the ceiling up to the maximum. */
    synchronized Duration next() {
        long ceiling = Math.min(maxMillis, initialMillis << Math.min(attempt, 20));
        attempt++;
        if (nanoTime.getAsLong() - quickUntil < 0) {
            ceiling = Math.min(ceiling, quickMillis);
        }
        return jittered(ceiling);
    }

    /** The delay after the gateway's host refused the connection: as {@link #next()}, at most {@link #QUICK_MAX}. */
    synchronized Duration nextRefused() {
        Duration d = next();
        return d.toMillis() <= QUICK_MAX.toMillis() ? d : jittered(QUICK_MAX.toMillis());
    }

    /** The gateway asked to be tried every {@code interval} (with jitter) for the next {@link #QUICK_WINDOW}. */
    synchronized void quick(Duration interval) {
        quickMillis = Math.max(1, interval.toMillis());
        quickUntil = nanoTime.getAsLong() + QUICK_WINDOW.toNanos();
    }

    /** Called once a session is established: the next failure starts from the initial delay. */
    synchronized void reset() {
        attempt = 0;
        quickUntil = nanoTime.getAsLong();
    }

    private static Duration jittered(long ceiling) {
        long half = ceiling / 2;
        return Duration.ofMillis(half + ThreadLocalRandom.current().nextLong(half + 1));
    }
}
