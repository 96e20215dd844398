package dev.underpass.gateway.link;

import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.StreamRelay;
import io.netty.channel.Channel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;

/**
 * Starts carrying a consumer connection on a data stream of an agent session, whichever way the
 * stream came (opened for it after an {@code open}, or a standby stream assigned to it), and
 * reports its start and its end.
 */
public final class ConnectionStart {
    private ConnectionStart() {}

    /** Answers the stream with {@code answer} (a 200) and relays the consumer socket over it. */
    static StreamRelay relay(
            AgentSession session,
            Http2StreamChannel stream,
            Http2Headers answer,
            long id,
            EndpointRoute r,
            HostAndPort target,
            Channel socket,
            long acceptedNanos) {
        stream.config().setAutoRead(false);
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(answer));
        ConsumerStreams.answer(socket, target, session.id());
        session.events().started(id, r, socket, target, session.id(), acceptedNanos);
        return StreamRelay.start(socket, stream, (relay, outcome, detail) -> {
            session.finished(id);
            session.events().ended(id, r, socket, target, session.id(), relay, outcome, detail);
        });
    }

    static Http2Headers ok() {
        return new DefaultHttp2Headers().status("200");
    }
}
