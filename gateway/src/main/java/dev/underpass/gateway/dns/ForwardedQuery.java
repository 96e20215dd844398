package dev.underpass.gateway.dns;

import static dev.underpass.gateway.dns.DnsAnswers.HEADER_BYTES;
import static dev.underpass.gateway.dns.DnsLog.log;

import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One query with the upstream: over UDP (then TCP after TC) for a UDP client, over TCP for a
 * TCP client. Runs on the client channel's event loop, as do its upstream channels and its
 * timeout, so its state needs no locks; {@link #finish} runs once and releases everything.
 */
final class ForwardedQuery {
    private static final int FLAG_QR = 0x8000;
    private static final int FLAG_TC = 0x0200;
    /** Upstream UDP answers are read into buffers this large: more than any UDP size we let the upstream use. */
    private static final int UPSTREAM_UDP_BUFFER = 4096;

    private final DnsForwarder forwarder;
    private final InetSocketAddress upstream;
    private final EventLoop loop;
    private final ByteBuf message;
    private final int id;
    private final int questionBytes;
    private final int clientId;
    private final DnsResponse pending;
    private final int udpLimit;
    private final String what;
    private final Consumer<Object> reply;
    private final long startNanos = System.nanoTime();
    private ScheduledFuture<?> timeout;
    private Channel upstreamUdp;
    private Channel upstreamTcp;
    /** The UDP answer with TC, relayed if TCP brings nothing that fits. */
    private ByteBuf truncated;

    private boolean done;

    /** See {@link DnsForwarder#forward}; {@code message} is the query for the upstream, owned from now on. */
    ForwardedQuery(
            DnsForwarder forwarder,
            EventLoop loop,
            ByteBuf message,
            int id,
            int questionBytes,
            int clientId,
            DnsResponse pending,
            int udpLimit,
            String what,
            Consumer<Object> reply) {
        this.forwarder = forwarder;
        this.upstream = forwarder.options().upstream();
        this.loop = loop;
        this.message = message;
        this.id = id;
        this.questionBytes = questionBytes;
        this.clientId = clientId;
        this.pending = pending;
        this.udpLimit = udpLimit;
        this.what = what;
        this.reply = reply;
    }

    void start() {
        timeout = loop.schedule(
                () -> fail("timeout", null),
                forwarder.options().forwardTimeout().toMillis(),
                TimeUnit.MILLISECONDS);
        if (udpLimit > 0) {
            sendUdp();
        } else {
            sendTcp();
        }
    }

    private void sendUdp() {
        ChannelFuture connect = new Bootstrap()
                .group(loop)
                .channel(NioDatagramChannel.class)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(UPSTREAM_UDP_BUFFER))
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
                        udpAnswer(packet.content());
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        // An ICMP port unreachable comes here: no need to wait for the timeout.
                        fail("udp", cause);
                    }
                })
                // Connected: the kernel drops datagrams from any other address than the upstream's.
                .connect(upstream);
        upstreamUdp = connect.channel();
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                fail("udp, connect", f.cause());
            } else if (!done) {
                upstreamUdp.writeAndFlush(message.retainedDuplicate()).addListener(w -> {
                    if (!w.isSuccess()) {
                        fail("udp, send", w.cause());
                    }
                });
            }
        });
    }

    private void udpAnswer(ByteBuf answer) {
        if (done) {
            return;
        }
        String mismatch = mismatch(answer);
        if (mismatch != null) {
            // Late, spoofed or broken: keep waiting for the real one until the timeout.
            log.debug("private DNS: {}: UDP datagram from the upstream {} ignored: {}", what, upstream, mismatch);
            return;
        }
        if ((answer.getUnsignedShort(answer.readerIndex() + 2) & FLAG_TC) != 0) {
            truncated = relayed(answer);
            upstreamUdp.close();
            sendTcp();
            return;
        }
        succeed(relayed(answer));
    }

    private void sendTcp() {
        ChannelFuture connect = new Bootstrap()
                .group(loop)
                .channel(Transport.socketChannel())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline()
                                .addLast("frames", new LengthFieldBasedFrameDecoder(2 + Edns.TCP_PAYLOAD, 0, 2, 0, 2));
                        ch.pipeline().addLast("answer", new SimpleChannelInboundHandler<ByteBuf>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
                                tcpAnswer(frame);
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) {
                                fail("tcp, closed without an answer", null);
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                fail("tcp", cause);
                            }
                        });
                    }
                })
                .connect(upstream);
        upstreamTcp = connect.channel();
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                fail("tcp, connect", f.cause());
            } else if (!done) {
                ByteBuf frame = Unpooled.wrappedBuffer(
                        Unpooled.buffer(2).writeShort(message.readableBytes()), message.retainedDuplicate());
                upstreamTcp.writeAndFlush(frame).addListener(w -> {
                    if (!w.isSuccess()) {
                        fail("tcp, send", w.cause());
                    }
                });
            }
        });
    }

    private void tcpAnswer(ByteBuf answer) {
        if (done) {
            return;
        }
        String mismatch = mismatch(answer);
        if (mismatch != null) {
            fail("tcp, not an answer to our query: " + mismatch, null);
            return;
        }
        succeed(relayed(answer));
    }

    /** Null if {@code answer} is the upstream's answer to our query, else what is wrong with it. */
    private String mismatch(ByteBuf answer) {
        int at = answer.readerIndex();
        if (answer.readableBytes() < HEADER_BYTES) {
            return answer.readableBytes() + " bytes, shorter than a header";
        }
        int flags = answer.getUnsignedShort(at + 2);
        if (answer.getUnsignedShort(at) != id || (flags & FLAG_QR) == 0) {
            return "not an answer with our id";
        }
        int questions = answer.getUnsignedShort(at + 4);
        if (questions == 0 && (flags & 0xf) != 0) {
            return null; // an error may come without the question (RFC 1035 leaves it open)
        }
        if (questions != 1 || answer.readableBytes() < HEADER_BYTES + questionBytes) {
            return "another question";
        }
        for (int i = 0; i < questionBytes; i++) {
            // Resolvers echo the question as asked; case aside (label lengths are below 'A').
            byte ours = message.getByte(message.readerIndex() + HEADER_BYTES + i);
            byte theirs = answer.getByte(at + HEADER_BYTES + i);
            if (lower(ours) != lower(theirs)) {
                return "another question";
            }
        }
        return null;
    }

    private static int lower(byte b) {
        return b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b;
    }

    /** A copy of {@code answer} with the client's id. */
    private ByteBuf relayed(ByteBuf answer) {
        ByteBuf copy = ByteBufAllocator.DEFAULT
                .buffer(answer.readableBytes())
                .writeBytes(answer, answer.readerIndex(), answer.readableBytes());
        return copy.setShort(0, clientId);
    }

    private void succeed(ByteBuf answer) {
        if (udpLimit > 0 && answer.readableBytes() > udpLimit) {
            // Too large for the client's UDP: the TCP answer after a TC, or an upstream that
            // ignored the UDP size. The client asks again over TCP.
            answer.release();
            if (truncated != null && truncated.readableBytes() <= udpLimit) {
                finish(truncated, "truncated");
            } else {
                finish(pending.setTruncated(true), "truncated, without records");
            }
            return;
        }
        finish(answer, "answered");
    }

    private void fail(String stage, Throwable cause) {
        if (done) {
            return;
        }
        String reason = stage + (cause == null ? "" : ": " + cause);
        if (truncated != null && truncated.readableBytes() <= udpLimit) {
            // TCP failed after a truncated UDP answer: that one still tells the client something.
            log.debug(
                    "private DNS: {}: TCP to the upstream {} failed ({}), relaying the truncated UDP answer",
                    what,
                    upstream,
                    reason);
            finish(truncated, "truncated");
            return;
        }
        forwarder.warnRarely(
                "private DNS: {} answered SERVFAIL: dns, gateway => upstream {}, {} after {} ms",
                what,
                upstream,
                reason,
                elapsedMillis());
        finish(pending.setCode(DnsResponseCode.SERVFAIL), "SERVFAIL");
    }

    private long elapsedMillis() {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    private void finish(Object result, String outcome) {
        done = true;
        forwarder.ended();
        timeout.cancel(false);
        if (upstreamUdp != null) {
            upstreamUdp.close();
        }
        if (upstreamTcp != null) {
            upstreamTcp.close();
        }
        message.release();
        if (truncated != null && truncated != result) {
            truncated.release();
        }
        truncated = null;
        if (result != pending) {
            pending.release();
        }
        log.debug("private DNS: {} forwarded to {}: {} in {} ms", what, upstream, outcome, elapsedMillis());
        reply.accept(result);
    }
}
