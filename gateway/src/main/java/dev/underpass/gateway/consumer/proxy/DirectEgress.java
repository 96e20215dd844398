package dev.underpass.gateway.consumer.proxy;

import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.StreamRelay;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * A proxied connection the operator's egress policy lets out directly: the gateway dials the
 * destination itself and relays bytes both ways, each side reading only when the other has taken
 * what it read (so a slow side slows its peer only), with half-closes passed on.
 */
public final class DirectEgress {
    private DirectEgress() {}

    /**
     * Resolves {@code destination} off the event loop, refuses names that lead into the gateway's
     * own host or link (loopback, link-local, wildcard, multicast: only an egressAllow entry that
     * names such an address literally allows it), then dials it from {@code socket}'s event loop;
     * calls {@code connected} with the new channel (not yet relaying), else {@code failed} with why.
     */
    static void dial(
            Channel socket,
            HostAndPort destination,
            Egress egress,
            Consumer<Channel> connected,
            Consumer<String> failed) {
        CompletableFuture<InetAddress> lookup;
        try {
            lookup = CompletableFuture.supplyAsync(() -> resolve(destination.host()), egress.resolver());
        } catch (RejectedExecutionException busy) {
            failed.accept("the gateway is resolving too many names; retry");
            return;
        }
        lookup.whenCompleteAsync(
                (address, error) -> {
                    if (error != null) {
                        Throwable cause = error.getCause() != null ? error.getCause() : error;
                        failed.accept(
                                cause instanceof UnknownHostException
                                        ? "unknown host " + destination.host()
                                        : cause.getMessage());
                        return;
                    }
                    new Bootstrap()
                            .group(socket.eventLoop())
                            .channel(Transport.socketChannel())
                            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int)
                                    egress.dialTimeout().toMillis())
                            .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                            .option(
                                    ChannelOption.SO_LINGER,
                                    0) // a dying gateway resets it (StreamRelay, "Process death")
                            .option(ChannelOption.AUTO_READ, false)
                            .handler(new ChannelInboundHandlerAdapter()) // the relay joins once the proxy has answered
                            .connect(new InetSocketAddress(address, destination.port()))
                            .addListener((ChannelFuture f) -> {
                                if (f.isSuccess()) {
                                    connected.accept(f.channel());
                                } else {
                                    failed.accept(String.valueOf(f.cause().getMessage()));
                                }
                            });
                },
                socket.eventLoop());
    }

    private static InetAddress resolve(String host) {
        InetAddress[] all;
        try {
            all = InetAddress.getAllByName(host);
        } catch (UnknownHostException e) {
            throw new CompletionException(e);
        }
        boolean literal = all.length == 1 && (host.equals(all[0].getHostAddress()) || host.contains(":"));
        for (InetAddress a : all) {
            if (!literal
                    && (a.isLoopbackAddress()
                            || a.isLinkLocalAddress()
                            || a.isAnyLocalAddress()
                            || a.isMulticastAddress())) {
                throw new IllegalStateException(
                        host + " resolves to " + a.getHostAddress() + ", an address of the gateway's "
                                + "own host or link (expected: an egressAllow entry naming that address itself)");
            }
        }
        return all[0];
    }

    /** Told once both sides of a relay have closed: the bytes each way and how long it lasted. */
    interface Ended {
        void ended(long toDestination, long toClient, long durationMillis);
    }

    /** The bytes a relay carried each way; touched only on the relay's event loop (both channels share it). */
    private static final class Tally {
        final long start = System.nanoTime();
        long toDestination;
        long toClient;
        int closed;
        /** FINs received, one per direction: 2 means the connection ended normally. */
        int fins;
    }

    /**
     * Relays {@code client} and {@code destination} to each other, {@code first} (may be null)
     * written to the destination before anything; {@code ended} hears of the end.
     */
    static void relay(Channel client, Channel destination, ByteBuf first, Ended ended) {
        StreamRelay.resetOnProcessDeath(client);
        Tally tally = new Tally();
        client.config().setAutoRead(false);
        destination.config().setAutoRead(false);
        client.pipeline().addLast("egress", new Side(destination, tally, n -> tally.toDestination += n));
        destination.pipeline().addLast("egress", new Side(client, tally, n -> tally.toClient += n));
        for (Channel c : List.of(client, destination)) {
            c.closeFuture().addListener(f -> {
                if (++tally.closed == 2) {
                    ended.ended(tally.toDestination, tally.toClient, (System.nanoTime() - tally.start) / 1_000_000);
                }
            });
        }
        if (first != null && first.isReadable()) {
            tally.toDestination += first.readableBytes();
            destination.writeAndFlush(first).addListener(f -> client.read());
        } else {
            if (first != null) {
                first.release();
            }
            client.read();
        }
        destination.read();
    }

    /** One direction: what this side reads goes to the peer; the next read waits until the peer has taken it. */
    private static final class Side extends ChannelInboundHandlerAdapter {
        private final Channel peer;
        private final Tally tally;
        private final LongConsumer carried;

        Side(Channel peer, Tally tally, LongConsumer carried) {
            this.peer = peer;
            this.tally = tally;
            this.carried = carried;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf buf) {
                carried.accept(buf.readableBytes());
            }
            peer.writeAndFlush(msg).addListener(f -> {
                if (f.isSuccess()) {
                    ctx.channel().read();
                } else {
                    ctx.close();
                    peer.close();
                }
            });
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                // This side sent its FIN: pass it on, and close when both directions are done.
                tally.fins++;
                if (peer instanceof DuplexChannel d) {
                    d.shutdownOutput().addListener(f -> {
                        if (f.isSuccess()) {
                            StreamRelay.closeNormallyFromNowOn(peer);
                        }
                        closeIfDone(ctx.channel());
                    });
                }
            }
            ctx.fireUserEventTriggered(evt);
        }

        private void closeIfDone(Channel self) {
            if (self instanceof DuplexChannel d && d.isInputShutdown() && d.isOutputShutdown()) {
                self.close();
            }
        }

        /**
         * This side closed: after both its directions finished, the peer ends as normally (it has
         * its FIN); otherwise (a reset, an error) the peer is reset, so that it never takes a cut
         * connection for a complete one.
         */
        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!peer.isActive()) {
                return;
            }
            if (tally.fins == 2) {
                peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            } else {
                StreamRelay.resetSocket(peer);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            GatewayLog.PROXY.info("egress connection {} ended: {}", ctx.channel(), cause.toString());
            ctx.close();
            peer.close();
        }
    }
}
