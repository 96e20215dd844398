package dev.underpass.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A tiny HTTP/1.1 server, one request per connection ({@code Connection: close}), for load
 * balancing and health check tests. {@code GET /healthz} answers the status the test sets with
 * {@link #healthStatus(int)} (200 at first) and is counted apart; every other request answers 200
 * with the server's name as the body and counts as a hit.
 */
public final class HttpTarget extends BlockingServer {
    private static final int MAX_HEAD = 16 * 1024;

    private final String name;
    private final AtomicInteger hits = new AtomicInteger();
    private final AtomicInteger healthChecks = new AtomicInteger();
    private volatile int healthStatus = 200;

    public HttpTarget(String name) throws IOException {
        super();
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** The status {@code /healthz} answers from now on. */
    public void healthStatus(int status) {
        healthStatus = status;
    }

    /** Requests other than {@code /healthz}. */
    public int hits() {
        return hits.get();
    }

    /** Requests for {@code /healthz}. */
    public int healthChecks() {
        return healthChecks.get();
    }

    @Override
    protected void handle(Socket socket) throws IOException {
        String head = readHead(socket.getInputStream());
        if (head.isEmpty()) {
            return; // a TCP connect without a request (a TCP health check)
        }
        String[] requestLine = head.split("\r\n", 2)[0].split(" ");
        String path = requestLine.length >= 2 ? requestLine[1] : "";
        int status;
        String body;
        if (path.equals("/healthz")) {
            healthChecks.incrementAndGet();
            status = healthStatus;
            body = status == 200 ? "ok\n" : "unhealthy\n";
        } else {
            hits.incrementAndGet();
            status = 200;
            body = name;
        }
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("HTTP/1.1 " + status + " " + (status == 200 ? "OK" : "Status " + status) + "\r\n"
                        + "Content-Type: text/plain\r\nContent-Length: " + b.length + "\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        socket.shutdownOutput();
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while (head.size() < MAX_HEAD && (b = in.read()) != -1) {
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
        // A health check reads the status line and closes: the rest of the answer may meet a reset.
        String m = String.valueOf(e.getMessage());
        return m.contains("reset") || m.contains("Broken pipe");
    }
}
