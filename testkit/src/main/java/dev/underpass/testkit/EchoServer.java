package dev.underpass.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicInteger;

/** Echoes every byte back; on the client's FIN it finishes echoing and sends its own FIN. */
public final class EchoServer extends BlockingServer {
    private final AtomicInteger carried = new AtomicInteger();

    public EchoServer() throws IOException {
        super();
    }

    /**
     * How many connections brought at least one byte. Unlike {@link #accepted()} it leaves out
     * connections that open and close without data, such as agents' TCP health checks.
     */
    public int carried() {
        return carried.get();
    }

    @Override
    protected void handle(Socket socket) throws IOException {
        socket.setTcpNoDelay(true);
        InputStream in = socket.getInputStream();
        OutputStream out = socket.getOutputStream();
        byte[] buf = new byte[64 * 1024];
        int n;
        boolean counted = false;
        while ((n = in.read(buf)) != -1) {
            if (!counted) {
                carried.incrementAndGet();
                counted = true;
            }
            out.write(buf, 0, n);
        }
        socket.shutdownOutput();
        // Wait for the client to close, so that our close never turns into a reset.
        while (in.read(buf) != -1) {
            // nothing more is expected
        }
    }

    @Override
    protected boolean expected(IOException e) {
        return String.valueOf(e.getMessage()).contains("reset");
    }
}
