package dev.underpass.testkit;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link SourceServer} whose transfers stay in flight as long as a test needs: the client
 * writes an 8-byte big-endian length and an 8-byte seed; the server sends the first
 * {@code headBytes} of that {@link DataStream} at once, then holds every transfer at a gate until
 * {@link #release()}, then sends the rest in chunks of {@code chunkBytes} with {@code pause}
 * between them, and a FIN. A request no longer than {@code headBytes} is answered at once, gate
 * or not. A held transfer waits at most {@code maxHold}; then it sends the rest anyway.
 */
public final class PacedSourceServer extends BlockingServer {
    private final int headBytes;
    private final int chunkBytes;
    private final Duration pause;
    private final Duration maxHold;
    private final CountDownLatch gate = new CountDownLatch(1);
    private final AtomicInteger held = new AtomicInteger();
    private final AtomicInteger finished = new AtomicInteger();

    public PacedSourceServer(int headBytes, int chunkBytes, Duration pause, Duration maxHold) throws IOException {
        super();
        if (headBytes % 8 != 0 || chunkBytes % 8 != 0 || chunkBytes <= 0) {
            throw new IllegalArgumentException(
                    "headBytes and chunkBytes must be multiples of 8 (the DataStream's unit)");
        }
        this.headBytes = headBytes;
        this.chunkBytes = chunkBytes;
        this.pause = pause;
        this.maxHold = maxHold;
    }

    @Override
    protected void handle(Socket socket) throws IOException {
        socket.setTcpNoDelay(true);
        DataInputStream in = new DataInputStream(socket.getInputStream());
        long length = in.readLong();
        long seed = in.readLong();
        OutputStream out = socket.getOutputStream();
        DataStream data = new DataStream(seed);
        long head = Math.min(length, headBytes);
        send(out, data, head, (int) Math.max(8, Math.min(head, 64 * 1024)));
        long left = length - head;
        if (left > 0) {
            held.incrementAndGet();
            try {
                gate.await(maxHold.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("closed while held at the gate", e);
            } finally {
                held.decrementAndGet();
            }
            byte[] buf = new byte[chunkBytes];
            while (left > 0) {
                int n = (int) Math.min(chunkBytes, left);
                data.next(buf, n);
                out.write(buf, 0, n);
                left -= n;
                if (left > 0) {
                    pace();
                }
            }
        }
        finished.incrementAndGet();
        socket.shutdownOutput();
        while (in.read() != -1) {
            // wait for the client's close
        }
    }

    private static void send(OutputStream out, DataStream data, long length, int chunk) throws IOException {
        byte[] buf = new byte[chunk];
        for (long left = length; left > 0; ) {
            int n = (int) Math.min(chunk, left);
            data.next(buf, n);
            out.write(buf, 0, n);
            left -= n;
        }
    }

    private void pace() throws IOException {
        try {
            Thread.sleep(pause); // pacing the source, not synchronisation
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("closed while pacing", e);
        }
    }

    /** Lets every held transfer, and every later one, send the rest of its bytes. */
    public void release() {
        gate.countDown();
    }

    /** Transfers that sent their head and wait at the gate now. */
    public int held() {
        return held.get();
    }

    /** Transfers that sent every byte they were asked for. */
    public int finished() {
        return finished.get();
    }

    @Override
    public void close() throws IOException {
        gate.countDown();
        super.close();
    }

    @Override
    protected boolean expected(IOException e) {
        // Clients that go away: the tests that use this server kill the path on purpose.
        String m = String.valueOf(e.getMessage());
        return m.contains("reset")
                || m.contains("Broken pipe")
                || m.contains("closed")
                || e instanceof java.io.EOFException;
    }
}
