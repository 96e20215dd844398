package dev.underpass.controlplane;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/** Two operations started at the same moment on two threads, released together by a latch. */
public final class Race {
    static final long TIMEOUT_SECONDS = 60;

    private Race() {}

    /** Runs {@code a} and {@code b} at once; returns what each threw, in order (null where it succeeded). */
    public static List<Throwable> of(Runnable a, Runnable b) throws Exception {
        CountDownLatch ready = new CountDownLatch(2);
        CountDownLatch go = new CountDownLatch(1);
        try (ExecutorService threads = Executors.newFixedThreadPool(2)) {
            List<Future<Throwable>> futures = new ArrayList<>();
            for (Runnable r : List.of(a, b)) {
                futures.add(threads.submit(() -> {
                    ready.countDown();
                    if (!go.await(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                        return new IllegalStateException("never released");
                    }
                    try {
                        r.run();
                        return null;
                    } catch (Throwable e) {
                        return e;
                    }
                }));
            }
            if (!ready.await(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                throw new IllegalStateException("threads did not start within " + TIMEOUT_SECONDS + "s");
            }
            go.countDown();
            List<Throwable> outcomes = new ArrayList<>();
            for (Future<Throwable> f : futures) {
                outcomes.add(f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
            }
            return outcomes;
        }
    }
}
