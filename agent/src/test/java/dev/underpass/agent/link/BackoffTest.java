package dev.underpass.agent.link;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BackoffTest {
    private static final Duration INITIAL = Duration.ofMillis(100);
    private static final Duration MAX = Duration.ofMillis(1000);

    @Test
    void eachDelayIsBetweenHalfTheCeilingAndTheCeilingWhichDoublesUpToTheMax() {
        long[] ceilings = {100, 200, 400, 800, 1000, 1000, 1000};
        for (int run = 0; run < 200; run++) {
            Backoff b = new Backoff(INITIAL, MAX);
            for (long ceiling : ceilings) {
                long d = b.next().toMillis();
                assertThat(d).as("delay under ceiling %d", ceiling).isBetween(ceiling / 2, ceiling);
            }
        }
    }

    @Test
    void theCeilingIsReachedNotJustApproached() {
        // Over many draws at each step, both ends of [ceiling/2, ceiling] come up: the doubling
        // is real and the jitter spans the whole range.
        long[] ceilings = {100, 200, 400};
        for (int step = 0; step < ceilings.length; step++) {
            long min = Long.MAX_VALUE;
            long max = 0;
            for (int run = 0; run < 2000; run++) {
                Backoff b = new Backoff(INITIAL, MAX);
                for (int i = 0; i < step; i++) {
                    b.next();
                }
                long d = b.next().toMillis();
                min = Math.min(min, d);
                max = Math.max(max, d);
            }
            assertThat(min)
                    .as("smallest delay at step %d", step)
                    .isLessThanOrEqualTo(ceilings[step] / 2 + ceilings[step] / 10);
            assertThat(max)
                    .as("largest delay at step %d", step)
                    .isGreaterThanOrEqualTo(ceilings[step] - ceilings[step] / 10);
        }
    }

    @Test
    void delaysAreJittered() {
        Set<Long> seen = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            Backoff b = new Backoff(INITIAL, MAX);
            seen.add(b.next().toMillis());
        }
        assertThat(seen).hasSizeGreaterThan(1);
    }

    @Test
    void neverExceedsTheMaxHoweverManyAttempts() {
        Backoff b = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(30));
        for (int i = 0; i < 7; i++) { // 250 ms << 7 = 32 s: from then on the max applies
            assertThat(b.next()).isLessThanOrEqualTo(Duration.ofSeconds(30));
        }
        for (int i = 0; i < 200; i++) {
            assertThat(b.next()).isBetween(Duration.ofSeconds(15), Duration.ofSeconds(30));
        }
    }

    @Test
    void resetStartsOverFromTheInitialDelay() {
        Backoff b = new Backoff(INITIAL, MAX);
        for (int i = 0; i < 10; i++) {
            b.next();
        }
        assertThat(b.next().toMillis()).isBetween(500L, 1000L);
        b.reset();
        assertThat(b.next().toMillis()).isBetween(50L, 100L);
        assertThat(b.next().toMillis()).isBetween(100L, 200L);
    }

    @Test
    void aRefusedConnectionIsTriedAgainWithinASecondHoweverLongTheOutage() {
        // A restart: the gateway's host refuses until the process listens again (issue 12: agents
        // whose backoff had grown to 5-8 s came back seconds after the gateway).
        Backoff b = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(30));
        for (int i = 0; i < 40; i++) {
            assertThat(b.nextRefused().toMillis())
                    .as("attempt %d", i)
                    .isLessThanOrEqualTo(Backoff.QUICK_MAX.toMillis());
        }
        // Other failures (a timeout, a refused session) still back off all the way.
        long longest = 0;
        for (int i = 0; i < 5; i++) {
            longest = Math.max(longest, b.next().toMillis());
        }
        assertThat(longest).isGreaterThan(Backoff.QUICK_MAX.toMillis());
    }

    @Test
    void aStoppingGatewaysRequestHoldsForItsWindowThenTheBackoffGoesOn() {
        long[] now = {0};
        Backoff b = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(30), () -> now[0]);
        for (int i = 0; i < 10; i++) {
            b.next(); // grown during an earlier outage
        }
        b.quick(Duration.ofMillis(800));
        for (int i = 0; i < 20; i++) {
            assertThat(b.next().toMillis())
                    .as("attempt %d within the window", i)
                    .isBetween(400L, 800L);
            now[0] += Duration.ofSeconds(5).toNanos();
        }
        now[0] += Backoff.QUICK_WINDOW.toNanos();
        assertThat(b.next().toMillis()).as("after the window").isGreaterThan(800L);
    }
}
