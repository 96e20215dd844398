package dev.underpass.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;

/** Echoes every byte back; on the client's FIN it finishes echoing and sends its own FIN. */
public final class EchoServer extends BlockingServer {
    public EchoServer() throws IOException {
        super();
    }

    @Override
    protected void handle(Socket socket) throws IOException {
        socket.setTcpNoDelay(true);
        InputStream in = socket.getInputStream();
        OutputStream out = socket.getOutputStream();
        byte[] buf = new byte[64 * 1024];
        int n;
        while ((n = in.read(buf)) != -1) {
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
