package dev.underpass.testkit;

import java.io.IOException;
import java.net.Socket;
import java.util.concurrent.CountDownLatch;

/**
 * Accepts connections and never reads from them: a stalled target. Each connection is held
 * until the client or {@link #close()} ends it.
 */
public final class HoldServer extends BlockingServer {
    private final CountDownLatch closed = new CountDownLatch(1);

    public HoldServer() throws IOException {
        super();
    }

    @Override
    protected void handle(Socket socket) throws IOException {
        try {
            closed.await(); // hold without reading; close() interrupts this thread
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws IOException {
        closed.countDown();
        super.close();
    }
}
