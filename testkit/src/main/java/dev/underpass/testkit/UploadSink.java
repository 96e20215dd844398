package dev.underpass.testkit;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A private target that takes uploads and records how each one ended, as the service behind a
 * tunnel would see it: the client first sends the length it is going to send (8 bytes), then the
 * data. An upload that ends with a clean EOF before that length is {@link Ending#SHORT}: what a
 * service would store as a truncated file. A reset is {@link Ending#RESET}: an error it notices.
 * A connection that closes before it announced its length carried no upload (a TCP health check
 * connects and closes) and is not recorded.
 */
public final class UploadSink extends BlockingServer {
    /** How an upload ended at the target. */
    public enum Ending {
        COMPLETE,
        SHORT,
        RESET
    }

    /** One upload: the bytes it announced and received, and how it ended. */
    public record Upload(long announced, long received, Ending ending, String detail) {}

    private final long head;
    private final AtomicInteger pastHead = new AtomicInteger();
    private final List<Upload> uploads = new CopyOnWriteArrayList<>();

    /** {@code head}: after this many bytes an upload counts as under way ({@link #pastHead()}). */
    public UploadSink(long head) throws IOException {
        super();
        this.head = head;
    }

    @Override
    protected void handle(Socket socket) {
        long announced = -1;
        long received = 0;
        boolean counted = false;
        try {
            DataInputStream in = new DataInputStream(socket.getInputStream());
            announced = in.readLong();
            InputStream raw = socket.getInputStream();
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = raw.read(buf)) != -1) {
                received += n;
                if (!counted && received >= head) {
                    counted = true;
                    pastHead.incrementAndGet();
                }
            }
            uploads.add(new Upload(
                    announced,
                    received,
                    received >= announced ? Ending.COMPLETE : Ending.SHORT,
                    "clean EOF with " + received + " of " + announced + " bytes"));
        } catch (EOFException e) {
            // Closed before it announced a length: a connection without an upload (an agent's TCP health check).
        } catch (IOException e) {
            uploads.add(new Upload(
                    announced, received, Ending.RESET, e.getClass().getSimpleName() + ": " + e.getMessage()));
        }
    }

    /** Uploads that have sent at least the head and not ended yet, or ended after it. */
    public int pastHead() {
        return pastHead.get();
    }

    /** The uploads that have ended, in the order they did. */
    public List<Upload> uploads() {
        return List.copyOf(uploads);
    }
}
