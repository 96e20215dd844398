package dev.underpass.gateway.dns;

import io.netty.bootstrap.AbstractBootstrap;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelHandler;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.local.LocalIoHandler;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The private DNS server's pipelines for a fuzz test on an {@code EmbeddedChannel}: the handlers
 * its UDP socket and its TCP connections get, taken from the bootstraps it builds (private to
 * it), never bound. Names under {@value #DOMAIN}: {@code a.} has an IPv4 and an IPv6 address,
 * {@code many.} 200 IPv4 addresses (answers must truncate), {@code fail.} makes the lookup throw;
 * everything else is unknown (NXDOMAIN under the domain, REFUSED elsewhere: no upstream).
 */
final class DnsFuzzing implements AutoCloseable {
    static final String DOMAIN = "endpoints.fuzz.test";

    final PrivateDnsServer server;
    private final EventLoopGroup unused = new MultiThreadIoEventLoopGroup(1, LocalIoHandler.newFactory());

    DnsFuzzing() {
        List<InetAddress> many = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            many.add(address("10.0." + i / 256 + "." + i % 256));
        }
        List<InetAddress> a = List.of(address("10.0.0.1"), address("fd00::1"));
        Function<String, List<InetAddress>> lookup = name -> switch (name) {
            case "a." + DOMAIN -> a;
            case "many." + DOMAIN -> many;
            case "fail." + DOMAIN -> throw new IllegalStateException("fuzzing: this lookup fails");
            default -> List.of();
        };
        server = new PrivateDnsServer(lookup, PrivateDnsServer.Options.of(DOMAIN, null));
    }

    /** What the UDP socket's pipeline starts with. */
    ChannelHandler udp() throws ReflectiveOperationException {
        return ((Bootstrap) bootstrap("udpBootstrap")).config().handler();
    }

    /** What each accepted TCP connection's pipeline starts with. */
    ChannelHandler tcp() throws ReflectiveOperationException {
        return ((ServerBootstrap) bootstrap("tcpBootstrap")).config().childHandler();
    }

    private AbstractBootstrap<?, ?> bootstrap(String method) throws ReflectiveOperationException {
        Method m = PrivateDnsServer.class.getDeclaredMethod(method, EventLoopGroup.class);
        m.setAccessible(true);
        return (AbstractBootstrap<?, ?>) m.invoke(server, unused);
    }

    private static InetAddress address(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    @Override
    public void close() {
        unused.shutdownGracefully();
    }
}
