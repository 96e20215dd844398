package dev.underpass.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A minimal HTTP CONNECT proxy (RFC 9110 section 9.3.6), like a customer's egress proxy. It
 * records the CONNECT targets, and {@link #freeze()} makes it stop forwarding without closing
 * anything: the "link that goes silent" a heartbeat must detect.
 */
public final class ConnectProxy extends BlockingServer {
    private final List<String> targets = new CopyOnWriteArrayList<>();
    private volatile boolean frozen;

    public ConnectProxy() throws IOException {
        super();
    }

    public List<String> connectTargets() {
        return List.copyOf(targets);
    }

    /** Stops forwarding bytes in both directions; connections stay open. */
    public void freeze() {
        frozen = true;
    }

    @Override
    protected void handle(Socket client) throws IOException {
        InputStream in = client.getInputStream();
        String head = readHead(in);
        String[] requestLine = head.split("\r\n", 2)[0].split(" ");
        OutputStream out = client.getOutputStream();
        if (requestLine.length != 3 || !requestLine[0].equals("CONNECT")) {
            out.write(
                    "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            return;
        }
        String target = requestLine[1];
        targets.add(target);
        int colon = target.lastIndexOf(':');
        try (Socket upstream = new Socket(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)))) {
            out.write("HTTP/1.1 200 Connection Established\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Thread up = Thread.ofVirtual().start(() -> pump(in, upstream));
            pump(upstream, client);
            up.interrupt();
        }
    }

    private void pump(Socket from, Socket to) {
        try {
            pump(from.getInputStream(), to);
        } catch (IOException e) {
            // the other side closed: nothing to forward any more
        }
    }

    private void pump(InputStream in, Socket to) {
        byte[] buf = new byte[32 * 1024];
        try {
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buf)) != -1) {
                while (frozen) {
                    Thread.sleep(50); // hold the bytes: the link is "cut" but not closed
                }
                out.write(buf, 0, n);
            }
            to.shutdownOutput();
        } catch (IOException | InterruptedException e) {
            // closed on the other side or by the test
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != -1 && head.size() < 8192) {
            head.write(b);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                break;
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    protected boolean expected(IOException e) {
        return true; // a proxy sees clients and upstreams come and go
    }
}
