package dev.underpass.gateway.link;

import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.observe.GatewayLog;
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
 * logs its end in one line.
 */
public final class ConnectionStart {
    private ConnectionStart() {
    }

    /** Answers the stream with {@code answer} (a 200) and relays the consumer socket over it. */
    static StreamRelay relay(AgentSession session, Http2StreamChannel stream, Http2Headers answer, long id,
                             EndpointRoute r, HostAndPort target, Channel socket, long acceptedNanos) {
        stream.config().setAutoRead(false);
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(answer));
        GatewayLog.CONNECTIONS.debug("connection {} endpoint={} port={} from={} target={} on session {} ({} us)",
                id, r.endpoint(), r.servicePort(), socket.remoteAddress(), target, session.id(),
                (System.nanoTime() - acceptedNanos) / 1000);
        session.metrics().started(r, acceptedNanos);
        return StreamRelay.start(socket, stream, (relay, outcome, detail) -> {
            session.finished(id);
            session.metrics().ended(r, relay, outcome);
            session.metrics().audit().relayed(r, socket, relay, outcome, detail);
            GatewayLog.CONNECTIONS.info("connection {} endpoint={} port={} from={} target={} session={} closed: {}{} "
                    + "sent={} received={} duration={}ms", id, r.endpoint(), r.servicePort(), socket.remoteAddress(),
                    target, session.id(), outcome, detail == null ? "" : " (" + detail + ")",
                    relay.bytesFromStream(), relay.bytesFromSocket(), relay.elapsed().toMillis());
        });
    }

    static Http2Headers ok() {
        return new DefaultHttp2Headers().status("200");
    }
}
