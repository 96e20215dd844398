package dev.underpass.testkit;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Sends data on request: the client writes an 8-byte big-endian length and a 8-byte seed, the
 * server answers with that many bytes of {@link DataStream} and a FIN. Counts what it wrote, so
 * a test can see a stalled reader stop its writer.
 */
public final class SourceServer extends BlockingServer {
    private final AtomicLong written = new AtomicLong();

    public SourceServer() throws IOException {
        super();
    }

    @Override
    protected void handle(Socket socket) throws IOException {
        DataInputStream in = new DataInputStream(socket.getInputStream());
        long length = in.readLong();
        long seed = in.readLong();
        OutputStream out = socket.getOutputStream();
        DataStream data = new DataStream(seed);
        byte[] buf = new byte[64 * 1024];
        long left = length;
        while (left > 0) {
            int n = (int) Math.min(buf.length, left);
            data.next(buf, n);
            out.write(buf, 0, n);
            written.addAndGet(n);
            left -= n;
        }
        socket.shutdownOutput();
        while (in.read() != -1) {
            // wait for the client's close
        }
    }

    /** Bytes written so far, over all connections. */
    public long written() {
        return written.get();
    }

    @Override
    protected boolean expected(IOException e) {
        String m = String.valueOf(e.getMessage());
        return m.contains("reset") || m.contains("Broken pipe") || m.contains("closed");
    }
}
