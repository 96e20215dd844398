package dev.underpass.cli;

import java.util.concurrent.CountDownLatch;

/** Blocks a server command until SIGINT or SIGTERM, then runs its close action once. */
final class Shutdown {
    private Shutdown() {
    }

    static void awaitSignal(AutoCloseable server) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (Exception e) {
                System.err.println("underpass: error while stopping: " + e.getMessage());
            } finally {
                stopped.countDown();
            }
        }, "underpass-shutdown"));
        stopped.await();
    }
}
