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
    private Transport() {
    }

    public static String name() {
        return "nio";
    }

    /** An event loop group with {@code threads} threads (0: Netty's default, twice the cores). */
    public static EventLoopGroup group(String name, int threads) {
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), NioIoHandler.newFactory());
    }

    public static Class<? extends ServerSocketChannel> serverChannel() {
        return NioServerSocketChannel.class;
    }

    public static Class<? extends SocketChannel> socketChannel() {
        return NioSocketChannel.class;
    }
}
