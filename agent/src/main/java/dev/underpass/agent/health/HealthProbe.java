package dev.underpass.agent.health;

import dev.underpass.agent.target.TargetAddresses;
import dev.underpass.protocol.DialError;
import dev.underpass.protocol.HostAndPort;
import io.netty.util.NetUtil;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * One health check attempt against a target, blocking (it runs on a virtual thread): a TCP
 * connect, a TLS handshake, or an HTTP(S) GET whose status line must match. As with a load
 * balancer's checks, the target's certificate is not verified: the check asks whether the
 * service answers, not whether it is trusted. The request is written by hand because only its
 * status line matters, and the JDK client cannot skip host name checks for one request.
 */
final class HealthProbe {
    /** Longest status line read. */
    private static final int MAX_STATUS_LINE = 1024;

    private HealthProbe() {}

    record Result(boolean passed, String reason) {}

    /** Probes {@code target} at the address {@code addresses} lets its name lead to, as connections dial it. */
    static Result run(
            String protocol,
            HostAndPort target,
            String path,
            StatusMatcher matcher,
            int timeoutMillis,
            TargetAddresses addresses) {
        long start = System.nanoTime();
        try (Socket socket = new Socket()) {
            socket.connect(addresses.resolve(target), timeoutMillis);
            socket.setSoTimeout(timeoutMillis);
            Socket s = switch (protocol) {
                case "tls", "https" -> handshake(socket, target);
                default -> socket;
            };
            String took = " in " + (System.nanoTime() - start) / 1_000_000 + " ms";
            return switch (protocol) {
                case "tcp" -> new Result(true, "TCP connect succeeded" + took);
                case "tls" ->
                    new Result(
                            true,
                            "TLS handshake succeeded ("
                                    + ((SSLSocket) s).getSession().getProtocol() + ")" + took);
                default -> http(s, target, path, matcher, start + timeoutMillis * 1_000_000L);
            };
        } catch (TargetAddresses.NotAllowed e) {
            return new Result(false, DialError.NOT_ALLOWED + ": " + e.getMessage());
        } catch (SocketTimeoutException e) {
            return new Result(false, "timed out after " + timeoutMillis + " ms");
        } catch (IOException e) {
            DialError error = DialError.of(e);
            return new Result(false, (error == DialError.ERROR ? "" : error + ": ") + e.getMessage());
        }
    }

    private static SSLSocket handshake(Socket socket, HostAndPort target) throws IOException {
        SSLSocket tls =
                (SSLSocket) TRUST_ANY.getSocketFactory().createSocket(socket, target.host(), target.port(), true);
        if (!NetUtil.isValidIpV4Address(target.host()) && !NetUtil.isValidIpV6Address(target.host())) {
            SSLParameters p = tls.getSSLParameters();
            p.setServerNames(List.of(new SNIHostName(target.host())));
            tls.setSSLParameters(p);
        }
        tls.startHandshake();
        return tls;
    }

    /** Sends the request and reads the status line, at most {@link #MAX_STATUS_LINE} bytes, by the deadline. */
    private static Result http(Socket s, HostAndPort target, String path, StatusMatcher matcher, long deadlineNanos)
            throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(("GET " + path + " HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: underpass-health-check\r\n"
                        + "Accept: */*\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        InputStream in = new BufferedInputStream(s.getInputStream(), 256);
        StringBuilder text = new StringBuilder();
        int b = 0;
        while (text.length() < MAX_STATUS_LINE) {
            long left = deadlineNanos - System.nanoTime();
            if (left <= 0) {
                throw new SocketTimeoutException("no status line in time"); // a target that trickles bytes
            }
            s.setSoTimeout((int) Math.max(1, left / 1_000_000));
            b = in.read();
            if (b == -1 || b == '\n') {
                break;
            }
            if (b != '\r') {
                text.append((char) b);
            }
        }
        if (b == -1 && text.isEmpty()) {
            return new Result(false, "HTTP: connection closed before a status line");
        }
        String line = text.toString();
        String[] parts = line.split(" ", 3);
        int status;
        try {
            status = parts.length >= 2 && parts[0].startsWith("HTTP/") ? Integer.parseInt(parts[1]) : -1;
        } catch (NumberFormatException e) {
            status = -1;
        }
        if (status < 0) {
            String shown = line.length() > 60 ? line.substring(0, 60) + "..." : line;
            return new Result(false, "HTTP: not a status line: " + shown);
        }
        return matcher.matches(status)
                ? new Result(true, "HTTP " + status)
                : new Result(false, "HTTP " + status + " (expected: " + matcher.text() + ")");
    }

    private static final SSLContext TRUST_ANY = trustAny();

    private static SSLContext trustAny() {
        try {
            SSLContext c = SSLContext.getInstance("TLS");
            c.init(
                    null,
                    new TrustManager[] {
                        new X509TrustManager() {
                            @Override
                            public void checkClientTrusted(X509Certificate[] chain, String authType) {}

                            @Override
                            public void checkServerTrusted(X509Certificate[] chain, String authType) {}

                            @Override
                            public X509Certificate[] getAcceptedIssuers() {
                                return new X509Certificate[0];
                            }
                        }
                    },
                    null);
            return c;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no TLS in this JVM", e);
        }
    }
}
