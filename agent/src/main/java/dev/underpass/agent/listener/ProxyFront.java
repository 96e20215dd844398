package dev.underpass.agent.listener;

import dev.underpass.agent.config.ListenerSpec;
import dev.underpass.protocol.AnswerCheck;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.socksx.v5.DefaultSocks5CommandResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5InitialResponse;
import io.netty.handler.codec.socksx.v5.Socks5AddressType;
import io.netty.handler.codec.socksx.v5.Socks5AuthMethod;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequest;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import io.netty.handler.codec.socksx.v5.Socks5CommandType;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequest;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5ServerEncoder;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's forward proxy (a listener {@code ADDRESS -> proxy}): clients in the customer's
 * network ask for {@code host:port} with HTTP CONNECT or SOCKS5 CONNECT (told apart by the first
 * byte) and the gateway carries them to the endpoint of the agent's account that the name
 * belongs to, as its own forward proxy does, or refuses; the client gets its protocol's answer.
 * No authentication: like an agent listener, it serves the network the agent's file binds it to.
 * A client that has not sent a whole request within {@link #HANDSHAKE_SECONDS}, however slowly it
 * trickles bytes, is disconnected, as at the gateway's proxy.
 */
final class ProxyFront extends ByteToMessageDecoder {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent");
    /** How long a client has for its whole request (the gateway's proxy gives as long). */
    static final int HANDSHAKE_SECONDS = 30;

    private final AgentListeners listeners;
    private final ListenerSpec spec;
    private final int handshakeSeconds;
    private ScheduledFuture<?> deadline;

    ProxyFront(AgentListeners listeners, ListenerSpec spec, int handshakeSeconds) {
        this.listeners = listeners;
        this.spec = spec;
        this.handshakeSeconds = handshakeSeconds;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        Channel socket = ctx.channel();
        deadline = ctx.executor()
                .schedule(
                        () -> {
                            log.info(
                                    "agent proxy {}: connection from {} closed: no complete request within {}s",
                                    spec.address(),
                                    socket.remoteAddress(),
                                    handshakeSeconds);
                            socket.close();
                        },
                        handshakeSeconds,
                        TimeUnit.SECONDS);
        socket.closeFuture().addListener(f -> deadline.cancel(false));
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (!in.isReadable()) {
            return;
        }
        ChannelPipeline p = ctx.pipeline();
        if (in.getByte(in.readerIndex()) == 5) {
            p.addAfter(ctx.name(), "socks5-encoder", Socks5ServerEncoder.DEFAULT);
            p.addAfter("socks5-encoder", "socks5-decoder", new Socks5InitialRequestDecoder());
            p.addAfter("socks5-decoder", "socks5", new Socks5());
        } else {
            p.addAfter(ctx.name(), "http", new HttpServerCodec(4096, 8192, 8192));
            p.addAfter("http", "connect", new Connect());
        }
        p.remove(this); // what was read goes on to the handlers just added
    }

    /** Asks the gateway for {@code destination}; {@code answer} replies to the client. */
    private void carry(Channel socket, String destination, AnswerCheck.Outcome answer) {
        deadline.cancel(false); // the request is whole: the client waits on the gateway now
        HostAndPort to;
        try {
            to = HostAndPort.parseDialable(destination);
        } catch (IllegalArgumentException e) {
            answer.refused("a destination that is not host:port");
            return;
        }
        log.info("agent proxy {}: {} asks for {}", spec.address(), socket.remoteAddress(), to);
        listeners.connectAfterAnswer(
                spec.toString(), socket, h -> h.set(Protocol.HEADER_DESTINATION, to.toString()), answer);
    }

    /** HTTP: CONNECT host:port only. */
    private final class Connect extends ChannelInboundHandlerAdapter {
        private String destination;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof HttpRequest r) {
                    if (!HttpMethod.CONNECT.equals(r.method())) {
                        refuse(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "this proxy carries CONNECT only\n");
                        return;
                    }
                    destination = r.uri();
                }
                if (msg instanceof LastHttpContent && destination != null) {
                    Channel socket = ctx.channel();
                    socket.config().setAutoRead(false);
                    ctx.pipeline().remove("http");
                    ctx.pipeline().remove(this);
                    carry(socket, destination, new AnswerCheck.Outcome() {
                        @Override
                        public void accepted() {
                            socket.writeAndFlush(Unpooled.copiedBuffer(
                                    "HTTP/1.1 200 Connection established\r\n\r\n", StandardCharsets.US_ASCII));
                        }

                        @Override
                        public void refused(String what) {
                            String body = "the gateway refused " + destination + " (" + what
                                    + "): not an available endpoint of this agent's account\n";
                            socket.writeAndFlush(Unpooled.copiedBuffer(
                                            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: "
                                                    + body.length() + "\r\nConnection: close\r\n\r\n" + body,
                                            StandardCharsets.US_ASCII))
                                    .addListener(ChannelFutureListener.CLOSE);
                        }
                    });
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void refuse(ChannelHandlerContext ctx, HttpResponseStatus status, String text) {
            DefaultFullHttpResponse r = new DefaultFullHttpResponse(
                    HttpVersion.HTTP_1_1, status, Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN);
            r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, text.length());
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
        }
    }

    /** SOCKS5: no authentication, CONNECT only. */
    private final class Socks5 extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Socks5InitialRequest init) {
                    if (!init.authMethods().contains(Socks5AuthMethod.NO_AUTH)) {
                        ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED))
                                .addListener(ChannelFutureListener.CLOSE);
                        return;
                    }
                    ctx.pipeline().replace("socks5-decoder", "socks5-decoder", new Socks5CommandRequestDecoder());
                    ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.NO_AUTH));
                } else if (msg instanceof Socks5CommandRequest c) {
                    if (!Socks5CommandType.CONNECT.equals(c.type())) {
                        reply(ctx.channel(), Socks5CommandStatus.COMMAND_UNSUPPORTED, true);
                        return;
                    }
                    String host = c.dstAddrType() == Socks5AddressType.IPv6 ? "[" + c.dstAddr() + "]" : c.dstAddr();
                    Channel socket = ctx.channel();
                    socket.config().setAutoRead(false);
                    ctx.pipeline().remove("socks5-decoder");
                    ctx.pipeline().remove(this);
                    carry(socket, host + ":" + c.dstPort(), new AnswerCheck.Outcome() {
                        @Override
                        public void accepted() {
                            reply(socket, Socks5CommandStatus.SUCCESS, false);
                        }

                        @Override
                        public void refused(String what) {
                            reply(socket, Socks5CommandStatus.FORBIDDEN, true);
                        }
                    });
                } else {
                    ctx.close(); // not SOCKS5 after all
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void reply(Channel socket, Socks5CommandStatus status, boolean close) {
            var sent = socket.writeAndFlush(
                    new DefaultSocks5CommandResponse(status, Socks5AddressType.IPv4, "0.0.0.0", 0));
            if (close) {
                sent.addListener(ChannelFutureListener.CLOSE);
            }
        }
    }
}
