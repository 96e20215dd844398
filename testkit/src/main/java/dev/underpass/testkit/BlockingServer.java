package dev.underpass.testkit;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP server on port 0 that handles each connection on its own virtual thread and
 * records the failures of its handlers, so a test can assert the server side saw no error.
 */
public abstract class BlockingServer implements AutoCloseable {
    private final ServerSocket server;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final List<Throwable> failures = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private volatile boolean closed;

    protected BlockingServer() throws IOException {
        server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 512);
        threads.submit(this::acceptLoop);
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket s = server.accept();
                accepted.incrementAndGet();
                open.add(s);
                threads.submit(() -> {
                    try (s) {
                        handle(s);
                    } catch (IOException e) {
                        if (!closed && !expected(e)) {
                            failures.add(e);
                        }
                    } catch (RuntimeException | Error e) {
                        failures.add(e);
                    } finally {
                        open.remove(s);
                    }
                });
            } catch (IOException e) {
                if (!closed) {
                    failures.add(e);
                }
            }
        }
    }

    /** Serves one connection; the socket is closed afterwards. */
    protected abstract void handle(Socket socket) throws IOException;

    /** Errors a handler may see in normal operation (a client that resets, for instance). */
    protected boolean expected(IOException e) {
        return false;
    }

    public int port() {
        return server.getLocalPort();
    }

    /** {@code 127.0.0.1:port}, as written in configuration. */
    public String address() {
        return "127.0.0.1:" + port();
    }

    public int accepted() {
        return accepted.get();
    }

    public List<Throwable> failures() {
        return List.copyOf(failures);
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : open) {
            s.close();
        }
        threads.shutdownNow();
    }
}
