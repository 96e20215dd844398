package dev.underpass.gateway.link;

import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;

/**
 * Consumer connections that arrive as HTTP/2 streams rather than sockets: a peer node's relay
 * stream, or an agent's connect stream from one of its listeners. Each learns with a 200 that its
 * connection is carried; only a peer node learns where to (the target and session): a consumer's
 * agent must not learn the provider's addresses.
 */
public final class ConsumerStreams {
    /** Set on an agent's connect stream; absent on a peer node's relay stream. */
    private static final AttributeKey<Boolean> FROM_AGENT = AttributeKey.valueOf("underpass.fromAgent");

    private ConsumerStreams() {}

    /** Marks {@code stream} as an agent's connect stream. */
    public static void fromAgent(Http2StreamChannel stream) {
        stream.attr(FROM_AGENT).set(Boolean.TRUE);
    }

    /** Whether {@code socket} is an agent's connect stream. */
    private static boolean isFromAgent(Channel socket) {
        return socket.hasAttr(FROM_AGENT);
    }

    /** Tells a consumer that is a stream that its connection is carried; nothing for a socket. */
    public static void answer(Channel socket, HostAndPort target, long session) {
        if (socket instanceof Http2StreamChannel stream) {
            Http2Headers ok = ConnectionStart.ok();
            if (!isFromAgent(stream)) {
                ok.set(Protocol.HEADER_TARGET, target.toString());
                ok.set(Protocol.HEADER_SESSION, Long.toString(session));
            }
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(ok));
        }
    }
}
