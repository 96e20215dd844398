package dev.underpass.gateway;

import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * A proxied connection the operator's egress policy lets out directly: the gateway dials the
 * destination itself and relays bytes both ways, each side reading only when the other has taken
 * what it read (so a slow side slows its peer only), with half-closes passed on.
 */
final class DirectEgress {
    private DirectEgress() {
    }

    /**
     * Dials {@code destination} from {@code socket}'s event loop; on success calls {@code connected}
     * with the new channel (not yet relaying), else {@code failed} with the reason.
     */
    static void dial(Channel socket, HostAndPort destination, Duration timeout, Consumer<Channel> connected,
                     Consumer<String> failed) {
        new Bootstrap()
                .group(socket.eventLoop())
                .channel(Transport.socketChannel())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) timeout.toMillis())
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.AUTO_READ, false)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // The relay handler is added once the proxy's answer has gone out.
                    }
                })
                .connect(destination.host(), destination.port())
                .addListener(f -> {
                    if (f.isSuccess()) {
                        connected.accept(((io.netty.channel.ChannelFuture) f).channel());
                    } else {
                        failed.accept(String.valueOf(f.cause().getMessage()));
                    }
                });
    }

    /** Relays {@code a} and {@code b} to each other, {@code first} (may be null) written to {@code b} before anything. */
    static void relay(Channel a, Channel b, ByteBuf first) {
        a.config().setAutoRead(false);
        b.config().setAutoRead(false);
        a.pipeline().addLast("egress", new Side(b));
        b.pipeline().addLast("egress", new Side(a));
        if (first != null && first.isReadable()) {
            b.writeAndFlush(first).addListener(f -> a.read());
        } else {
            if (first != null) {
                first.release();
            }
            a.read();
        }
        b.read();
    }

    /** One direction: what this side reads goes to the peer; the next read waits until the peer has taken it. */
    private static final class Side extends ChannelInboundHandlerAdapter {
        private final Channel peer;

        Side(Channel peer) {
            this.peer = peer;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
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
                if (peer instanceof DuplexChannel d) {
                    d.shutdownOutput().addListener(f -> closeIfDone(ctx.channel()));
                }
            }
            ctx.fireUserEventTriggered(evt);
        }

        private void closeIfDone(Channel self) {
            if (self instanceof DuplexChannel d && d.isInputShutdown() && d.isOutputShutdown()) {
                self.close();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (peer.isActive()) {
                peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ForwardProxy.log.info("egress connection {} ended: {}", ctx.channel(), cause.toString());
            ctx.close();
            peer.close();
        }
    }
}
