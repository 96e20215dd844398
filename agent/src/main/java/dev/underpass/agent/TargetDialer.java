package dev.underpass.agent;

import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.DialError;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.StreamRelay;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Carries out the gateway's {@code open} messages: checks the target against the local
 * allowlist, dials it, and opens the data stream back to the gateway. A target that is not in
 * the allowlist is never dialled, whatever the gateway says.
 */
final class TargetDialer {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent.streams");

    private final Set<HostAndPort> allowed;
    private final Duration dialTimeout;
    private final String authority;

    TargetDialer(Set<HostAndPort> allowed, Duration dialTimeout, String authority) {
        this.allowed = Set.copyOf(allowed);
        this.dialTimeout = dialTimeout;
        this.authority = authority;
    }

    /** Handles one open message arriving on {@code session} (the agent's session stream). */
    void open(Http2StreamChannel session, ControlMessage.Open open) {
        long id = open.connection();
        HostAndPort target;
        try {
            target = HostAndPort.parse(open.target());
        } catch (IllegalArgumentException e) {
            refuse(session, id, DialError.NOT_ALLOWED, "target " + open.target() + " is not host:port");
            return;
        }
        if (!allowed.contains(target)) {
            refuse(session, id, DialError.NOT_ALLOWED, "target " + target + " is not in this agent's allowlist");
            return;
        }
        long start = System.nanoTime();
        Channel link = session.parent();
        new Bootstrap()
                .group(link.eventLoop()) // same loop as the stream: no hand-over between threads
                .channel(Transport.socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) dialTimeout.toMillis())
                .handler(NoOp.INSTANCE)
                .connect(target.host(), target.port())
                .addListener((ChannelFutureListener) f -> {
                    if (!f.isSuccess()) {
                        refuse(session, id, DialError.of(f.cause()), f.cause().getMessage());
                        return;
                    }
                    openStream(session, id, target, f.channel(), (System.nanoTime() - start) / 1000);
                });
    }

    private void openStream(Http2StreamChannel session, long id, HostAndPort target, Channel socket, long dialMicros) {
        new Http2StreamChannelBootstrap(session.parent())
                .option(ChannelOption.AUTO_READ, false)
                .handler(new ResponseCheck(id, socket))
                .open()
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        StreamRelay.resetSocket(socket);
                        refuse(session, id, DialError.UNAVAILABLE, "cannot open a stream: " + f.cause());
                        return;
                    }
                    Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
                    Http2Headers h = new DefaultHttp2Headers().method("POST").path(Protocol.STREAM_PATH).scheme("https")
                            .authority(authority);
                    h.set(Protocol.HEADER_CONNECTION_ID, Long.toString(id));
                    stream.writeAndFlush(new DefaultHttp2HeadersFrame(h)).addListener(w -> {
                        if (!w.isSuccess()) { // e.g. the stream limit or a GOAWAY: tell the gateway now
                            StreamRelay.resetSocket(socket);
                            refuse(session, id, DialError.UNAVAILABLE, "cannot open the stream: " + w.cause());
                        }
                    });
                    log.debug("connection {} target={} dialled in {} us", id, target, dialMicros);
                    StreamRelay.start(socket, stream, (relay, outcome, detail) ->
                            log.info("connection {} target={} closed: {}{} sent={} received={} duration={}ms", id, target,
                                    outcome, detail == null ? "" : " (" + detail + ")", relay.bytesFromStream(),
                                    relay.bytesFromSocket(), relay.elapsed().toMillis()));
                });
    }

    private static void refuse(Http2StreamChannel session, long id, DialError error, String detail) {
        log.warn("connection {} refused: {} ({})", id, error, detail);
        session.writeAndFlush(ControlCodec.frame(session.alloc(), new ControlMessage.DialFailed(id, error, detail)));
    }

    /** Lets only a 200 answer through to the relay; anything else ends the connection. */
    private static final class ResponseCheck extends ChannelInboundHandlerAdapter {
        private final long id;
        private final Channel socket;

        ResponseCheck(long id, Channel socket) {
            this.id = id;
            this.socket = socket;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2HeadersFrame h && h.headers().status() != null
                    && "200".contentEquals(h.headers().status())) {
                ctx.pipeline().remove(this);
                ReferenceCountUtil.release(msg);
                return;
            }
            ReferenceCountUtil.release(msg);
            log.warn("connection {} refused by the gateway: {}", id,
                    msg instanceof Http2HeadersFrame h ? "status " + h.headers().status() : "no response headers");
            ctx.close();
            StreamRelay.resetSocket(socket);
        }
    }

    @ChannelHandler.Sharable
    private static final class NoOp extends ChannelInboundHandlerAdapter {
        static final NoOp INSTANCE = new NoOp();
    }
}
