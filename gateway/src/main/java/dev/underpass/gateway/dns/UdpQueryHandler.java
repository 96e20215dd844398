package dev.underpass.gateway.dns;

import static dev.underpass.gateway.dns.DnsLog.log;

import io.netty.buffer.ByteBuf;
import io.netty.channel.AddressedEnvelope;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * The UDP socket's handler: answers each query with one datagram to its sender, its own answer
 * or the upstream's. Answers are dropped while the socket's outbound buffer is full (clients
 * retry), rather than queued.
 */
final class UdpQueryHandler extends SimpleChannelInboundHandler<DatagramDnsQuery> {
    private final DnsAnswers answers;
    private final DnsForwarder forwarder;

    UdpQueryHandler(DnsAnswers answers, DnsForwarder forwarder) {
        this.answers = answers;
        this.forwarder = forwarder;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery query) {
        if (!ctx.channel().isWritable()) {
            // The kernel does not take our datagrams as fast as queries come: drop rather than queue.
            log.debug("private DNS: answer to {} dropped: UDP outbound buffer full", query.sender());
            return;
        }
        InetSocketAddress client = query.sender();
        DatagramDnsResponse response = new DatagramDnsResponse(query.recipient(), client, query.id(), query.opCode());
        boolean forward;
        try {
            forward = answers.answer(query, response, true, client);
        } catch (RuntimeException e) {
            response.release();
            throw e;
        }
        if (forward) {
            forwarder.forward(
                    ctx.channel().eventLoop(),
                    query,
                    response,
                    Edns.udpLimit(Edns.optOf(query)),
                    client,
                    reply -> send(
                            ctx, reply instanceof ByteBuf answer ? new DatagramPacket(answer, client) : reply, client));
        } else {
            send(ctx, response, client);
        }
    }

    private void send(ChannelHandlerContext ctx, Object answer, InetSocketAddress client) {
        if (!ctx.channel().isWritable()) {
            log.debug("private DNS: answer to {} dropped: UDP outbound buffer full", client);
            ReferenceCountUtil.release(answer);
            return;
        }
        ctx.writeAndFlush(answer).addListener(f -> {
            if (!f.isSuccess()) {
                log.debug(
                        "private DNS: answer to {} not sent: {}",
                        client,
                        f.cause().toString());
            }
        });
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Never close: the one UDP socket serves every client.
        log.debug("private DNS: UDP error: {}", cause.toString());
    }

    /** Netty's decoder, with a malformed datagram dropped and said at DEBUG with its sender. */
    static final class QueryDecoder extends DatagramDnsQueryDecoder {
        @Override
        protected void decode(ChannelHandlerContext ctx, DatagramPacket packet, List<Object> out) {
            int bytes = packet.content().readableBytes();
            try {
                super.decode(ctx, packet, out);
            } catch (Exception e) {
                // Also a response sent to us ("not a query"): answering it could start a loop.
                log.debug(
                        "private DNS: malformed query of {} bytes from {} dropped: {}",
                        bytes,
                        packet.sender(),
                        e.toString());
            }
        }
    }

    /** Netty's encoder, letting relayed answers (datagrams of bytes, also addressed envelopes) pass as they are. */
    static final class ResponseEncoder extends DatagramDnsResponseEncoder {
        @Override
        public boolean acceptOutboundMessage(Object msg) {
            return msg instanceof AddressedEnvelope<?, ?> envelope && envelope.content() instanceof DnsResponse;
        }
    }
}
