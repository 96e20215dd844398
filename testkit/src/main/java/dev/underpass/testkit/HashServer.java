package dev.underpass.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * Reads until the client's FIN, then answers with the SHA-256 (hex) and byte count of all it
 * read: {@code <hex> <count>\n}. An upload check that needs no second copy of the data.
 */
public final class HashServer extends BlockingServer {
    public HashServer() throws IOException {
        super();
    }

    @Override
    protected void handle(Socket socket) throws IOException {
        InputStream in = socket.getInputStream();
        Sha256 sha = new Sha256();
        byte[] buf = new byte[256 * 1024];
        long count = 0;
        int n;
        while ((n = in.read(buf)) != -1) {
            sha.update(buf, 0, n);
            count += n;
        }
        socket.getOutputStream().write((sha.hex() + " " + count + "\n").getBytes(StandardCharsets.US_ASCII));
        socket.shutdownOutput();
    }
}
