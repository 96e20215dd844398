package dev.underpass.protocol;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import org.slf4j.Logger;

/** Waiting for live connections to end while a gateway or an agent shuts down. */
public final class Drain {
    private static final long REPORT_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final long POLL_MILLIS = 50;

    private Drain() {}

    /**
     * Waits until {@code open} counts no connection or {@code timeout} has passed, logging the
     * count at the start, every 5 seconds and at the end.
     *
     * @return the connections still open, which the caller then cuts
     */
    public static int await(String who, IntSupplier open, Duration timeout, Logger log) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        long nextReport = start + REPORT_NANOS;
        int n = open.getAsInt();
        log.info(
                "{} draining: {} connection(s) open, waiting up to {}s for them to finish",
                who,
                n,
                timeout.toSeconds());
        while (n > 0 && System.nanoTime() - deadline < 0) {
            Thread.sleep(POLL_MILLIS);
            n = open.getAsInt();
            if (n > 0 && System.nanoTime() - nextReport >= 0) {
                log.info(
                        "{} draining: {} connection(s) open, {}s left",
                        who,
                        n,
                        TimeUnit.NANOSECONDS.toSeconds(deadline - System.nanoTime()));
                nextReport += REPORT_NANOS;
            }
        }
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        if (n == 0) {
            log.info("{} drained in {} ms: every connection finished", who, tookMillis);
        } else {
            log.warn("{} drain timeout after {} ms: {} connection(s) still open are cut", who, tookMillis, n);
        }
        return n;
    }
}
