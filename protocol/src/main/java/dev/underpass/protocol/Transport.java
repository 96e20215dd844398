package dev.underpass.protocol;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The socket transport: Java NIO. Netty's epoll transport 4.2.18 (the newest whose native
 * library this build can fetch) drops a socket from epoll when its interest set empties and then
 * fails the next read with ENOENT, which a relay with auto-read off hits whenever a peer
 * half-closes while reads are paused. docs/adr/0003-nio-transport.md has the details and when
 * to switch back.
 */
public final class Transport {
    private Transport() {}

    public static String name() {
        return "nio";
    }

    /** Environment variable that sets the number of event loop threads (default: one per core). */
    public static final String THREADS_ENV = "UNDERPASS_THREADS";

    /**
     * An event loop group with one thread per core, or {@value #THREADS_ENV}: more threads than
     * cores only adds context switches to a relay that never blocks.
     */
    public static EventLoopGroup group(String name) {
        return new MultiThreadIoEventLoopGroup(
                threads(System.getenv(THREADS_ENV)), new DefaultThreadFactory(name, true), NioIoHandler.newFactory());
    }

    static int threads(String configured) {
        if (configured == null || configured.isBlank()) {
            return Runtime.getRuntime().availableProcessors();
        }
        try {
            int n = Integer.parseInt(configured.trim());
            if (n >= 1 && n <= 1024) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(THREADS_ENV + ": " + configured + " (expected: 1-1024)");
    }

    public static Class<? extends ServerSocketChannel> serverChannel() {
        return NioServerSocketChannel.class;
    }

    public static Class<? extends SocketChannel> socketChannel() {
        return NioSocketChannel.class;
    }
}
