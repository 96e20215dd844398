package dev.underpass.e2e;

import dev.underpass.testkit.DataStream;
import dev.underpass.testkit.Sha256;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** Plain-socket consumers for the endpoint listeners: what a real client does, nothing more. */
final class Clients {
    static final Duration READ_TIMEOUT = Duration.ofSeconds(60);
    static final int CHUNK = 256 * 1024;

    private Clients() {}

    static Socket connect(int port) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        s.setSoTimeout((int) READ_TIMEOUT.toMillis());
        s.setTcpNoDelay(true);
        return s;
    }

    /** Sends {@code length} bytes of the seeded stream to a HashServer; returns its "hex count" answer. */
    static String upload(int port, long length, long seed) throws IOException {
        try (Socket s = connect(port)) {
            OutputStream out = s.getOutputStream();
            DataStream data = new DataStream(seed);
            byte[] buf = new byte[CHUNK];
            for (long left = length; left > 0; ) {
                int n = (int) Math.min(buf.length, left);
                data.next(buf, n);
                out.write(buf, 0, n);
                left -= n;
            }
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
        }
    }

    /** Result of reading a download: bytes, hash and whether it ended with a clean FIN. */
    record Download(long bytes, String sha256) {}

    /** Asks a SourceServer for {@code length} bytes and reads them all, hashing. */
    static Download download(int port, long length, long seed) throws IOException {
        try (Socket s = connect(port)) {
            request(s, length, seed);
            return drain(s.getInputStream());
        }
    }

    static void request(Socket s, long length, long seed) throws IOException {
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        out.writeLong(length);
        out.writeLong(seed);
        out.flush();
    }

    static Download drain(InputStream in) throws IOException {
        Sha256 sha = new Sha256();
        byte[] buf = new byte[CHUNK];
        long total = 0;
        int n;
        while ((n = in.read(buf)) != -1) {
            sha.update(buf, 0, n);
            total += n;
        }
        return new Download(total, sha.hex());
    }

    /** Writes {@code payload}, half-closes, and returns everything the echo sent back. */
    static byte[] echo(int port, byte[] payload) throws IOException {
        try (Socket s = connect(port)) {
            s.getOutputStream().write(payload);
            s.shutdownOutput();
            return s.getInputStream().readAllBytes();
        }
    }
}
