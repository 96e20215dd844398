package dev.underpass.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A plain TCP relay on loopback port 0 to one upstream address: each accepted connection gets its
 * own upstream connection and bytes are copied both ways, FIN for FIN. {@link #freeze()} models a
 * link that goes silent without closing (a dead NAT entry, a stuck middlebox): bytes stop moving
 * in both directions while every socket stays open, and connections accepted meanwhile are
 * connected upstream but carry nothing either. {@link #thaw()} lets the held bytes through.
 */
public final class FreezableRelay extends BlockingServer {
    private static final long FROZEN_POLL_MILLIS = 20;

    private final InetSocketAddress upstream;
    private final AtomicInteger connections = new AtomicInteger();
    private volatile boolean frozen;

    public FreezableRelay(String upstreamHost, int upstreamPort) throws IOException {
        super();
        this.upstream = new InetSocketAddress(upstreamHost, upstreamPort);
    }

    /** Stops forwarding bytes in both directions, on every connection; nothing is closed. */
    public void freeze() {
        frozen = true;
    }

    /** Forwards again, starting with the bytes held while frozen. */
    public void thaw() {
        frozen = false;
    }

    public boolean frozen() {
        return frozen;
    }

    /** Connections accepted so far. */
    public int connections() {
        return connections.get();
    }

    @Override
    protected void handle(Socket client) throws IOException {
        connections.incrementAndGet();
        try (Socket up = new Socket()) {
            up.connect(upstream, 10_000);
            client.setTcpNoDelay(true);
            up.setTcpNoDelay(true);
            Thread toUpstream = Thread.ofVirtual().start(() -> pump(client, up));
            pump(up, client);
            try {
                toUpstream.join(); // both directions ended (or the relay was closed)
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Copies {@code from} to {@code to} until EOF, then half-closes {@code to}; an error closes both. */
    private void pump(Socket from, Socket to) {
        byte[] buf = new byte[32 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buf)) != -1) {
                holdWhileFrozen();
                out.write(buf, 0, n);
            }
            holdWhileFrozen(); // a FIN is a byte of the link too
            to.shutdownOutput();
        } catch (IOException | InterruptedException e) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private void holdWhileFrozen() throws InterruptedException {
        while (frozen) {
            Thread.sleep(FROZEN_POLL_MILLIS); // the link is "cut" but not closed
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        frozen = false; // held pumps wake up and see their sockets closed
        super.close();
    }

    @Override
    protected boolean expected(IOException e) {
        return true; // a relay sees both sides come and go
    }
}
