package dev.underpass.cli;

import ch.qos.logback.classic.LoggerContext;
import java.util.concurrent.CountDownLatch;
import org.slf4j.LoggerFactory;

/**
 * Blocks a server command until SIGINT or SIGTERM, then drains it (stops taking new work and lets
 * live connections finish, up to its deadline) and runs its close action, once.
 */
final class Shutdown {
    private Shutdown() {}

    /** What a server does before it closes: let live work finish. */
    @FunctionalInterface
    interface Drain {
        void drain() throws Exception;
    }

    /** Writes out the asynchronous log queue: the JVM exits right after this hook. */
    private static void flushLogs() {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.stop();
        }
    }

    static void awaitSignal(Drain drain, AutoCloseable server) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            try {
                                drain.drain();
                            } catch (Exception e) {
                                System.err.println("underpass: error while draining: " + e.getMessage());
                            }
                            try {
                                server.close();
                            } catch (Exception e) {
                                System.err.println("underpass: error while stopping: " + e.getMessage());
                            } finally {
                                flushLogs();
                                stopped.countDown();
                            }
                        },
                        "underpass-shutdown"));
        stopped.await();
    }
}
