package dev.underpass.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One echo transfer paced slowly enough for a fault to land in its middle, and how it ended as the
 * consumer saw it: the tests that kill a process mid-transfer count these.
 */
final class PacedEcho {
    static final int CHUNK = 8 * 1024;

    private PacedEcho() {}

    enum Outcome {
        /** Every byte back, in order. */
        ECHOED,
        /** An error (a reset) the consumer sees. */
        RESET,
        /** A clean end before every byte came back: the silent short read that must never happen. */
        TRUNCATED,
        /** As many bytes back as sent, but not the same ones. */
        CORRUPTED
    }

    /**
     * Sends {@code length} bytes in paced chunks, half-closes and reads the echo to its end;
     * {@code underway} counts down when the first byte comes back.
     */
    static Outcome transfer(InetSocketAddress address, int seed, int length, CountDownLatch underway) {
        byte[] data = new byte[length];
        new Random(seed).nextBytes(data);
        try (Socket s = new Socket()) {
            s.connect(address, 10_000);
            s.setSoTimeout(60_000);
            // The kernel reports a reset once, to whichever call comes first: the writer's failure
            // counts as the consumer seeing the reset, and the reader then only sees the end.
            AtomicBoolean writeFailed = new AtomicBoolean();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    for (int off = 0; off < length; off += CHUNK) {
                        out.write(data, off, CHUNK);
                        Thread.sleep(20);
                    }
                    s.shutdownOutput();
                } catch (IOException e) {
                    writeFailed.set(true);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            InputStream in = s.getInputStream();
            byte[] back = new byte[length + 1];
            int total = 0;
            boolean first = true;
            while (true) {
                int n = in.read(back, total, Math.min(back.length - total, 64 * 1024));
                if (n < 0) {
                    break;
                }
                if (first) {
                    underway.countDown();
                    first = false;
                }
                total += n;
                if (total == back.length) {
                    break;
                }
            }
            writer.join();
            if (first) {
                underway.countDown();
            }
            if (total != length) {
                return writeFailed.get() ? Outcome.RESET : Outcome.TRUNCATED;
            }
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            return Arrays.equals(sha.digest(data), sha.digest(Arrays.copyOf(back, length)))
                    ? Outcome.ECHOED
                    : Outcome.CORRUPTED;
        } catch (IOException e) {
            underway.countDown();
            return Outcome.RESET;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
