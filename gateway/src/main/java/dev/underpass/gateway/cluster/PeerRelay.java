package dev.underpass.gateway.cluster;

import dev.underpass.gateway.consumer.PeerRoute;
import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.link.ConsumerStreams;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.StreamRelay;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Carries a consumer connection through a peer node whose agents serve its endpoint: one relay
 * stream on the link to that peer, answered once the peer's agent carries the connection (with
 * the target and session), then relayed byte for byte as an agent stream is. A stream the peer
 * resets, or a link that ends, resets the consumer's connection: never a silent end.
 */
final class PeerRelay implements PeerRoute {
    private final NodeHeartbeat nodes;
    private final PeerLinks links;
    private final ConnectionEvents events;
    private final AtomicInteger next = new AtomicInteger();

    PeerRelay(NodeHeartbeat nodes, PeerLinks links, ConnectionEvents events) {
        this.nodes = nodes;
        this.links = links;
        this.events = events;
    }

    @Override
    public boolean serves(EndpointRoute route, boolean healthy) {
        return nodes.peers().stream().anyMatch(p -> p.serves(route, healthy));
    }

    @Override
    public void carry(long id, EndpointRoute route, Channel socket, boolean healthy, long acceptedNanos) {
        List<Peer> candidates = new ArrayList<>(nodes.peers().stream()
                .filter(p -> p.serves(route, healthy) && links.usable(p))
                .toList());
        if (candidates.isEmpty()) {
            events.refused(
                    id, route, socket, "no_agent", "no node has an agent for " + route.addresses() + " any more");
            StreamRelay.resetSocket(socket);
            return;
        }
        Collections.rotate(candidates, Math.floorMod(next.getAndIncrement(), candidates.size()));
        carry(candidates, id, route, socket, acceptedNanos);
    }

    /** Tries the first of {@code candidates}; a peer whose link cannot be opened gives way to the next. */
    private void carry(List<Peer> candidates, long id, EndpointRoute route, Channel socket, long acceptedNanos) {
        Peer peer = candidates.getFirst();
        links.link(peer).addListener(f -> {
            if (f.isSuccess()) {
                open((Channel) f.getNow(), peer, id, route, socket, acceptedNanos);
                return;
            }
            String reason =
                    "node " + peer.id() + " (" + peer.agentAddress() + ") cannot be reached: " + Causes.root(f.cause());
            if (candidates.size() > 1 && socket.isActive()) {
                GatewayLog.CONNECTIONS.info("connection {}: {}; trying another node", id, reason);
                carry(candidates.subList(1, candidates.size()), id, route, socket, acceptedNanos);
            } else {
                fail(id, route, socket, acceptedNanos, reason);
            }
        });
    }

    private void open(Channel link, Peer peer, long id, EndpointRoute route, Channel socket, long acceptedNanos) {
        new Http2StreamChannelBootstrap(link)
                .handler(new Answer(peer, id, route, socket, acceptedNanos))
                .open()
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        fail(
                                id,
                                route,
                                socket,
                                acceptedNanos,
                                "cannot open a stream to node " + peer.id() + ": " + Causes.root(f.cause()));
                        return;
                    }
                    Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
                    stream.config().setAutoRead(false);
                    Http2Headers h = new DefaultHttp2Headers()
                            .method("POST")
                            .path(Protocol.RELAY_PATH)
                            .scheme("https")
                            .authority(peer.agentAddress());
                    h.set(Protocol.HEADER_ENDPOINT, route.endpoint());
                    h.set(Protocol.HEADER_SERVICE_PORT, Integer.toString(route.servicePort()));
                    h.set(Protocol.HEADER_CONNECTION_ID, Long.toString(id));
                    stream.writeAndFlush(new DefaultHttp2HeadersFrame(h));
                    stream.read(); // the answer
                    // A consumer that leaves before the answer takes the stream with it.
                    socket.closeFuture().addListener(c -> {
                        if (stream.pipeline().get(Answer.class) != null) {
                            stream.close();
                        }
                    });
                });
    }

    private void fail(long id, EndpointRoute route, Channel socket, long acceptedNanos, String reason) {
        events.failed(id, route, socket, null, "peer_failed", reason, acceptedNanos);
        StreamRelay.resetSocket(socket);
    }

    /** The peer's answer: 200 with the target starts the relay; anything else fails the connection. */
    private final class Answer extends ChannelInboundHandlerAdapter {
        private final Peer peer;
        private final long id;
        private final EndpointRoute route;
        private final Channel socket;
        private final long acceptedNanos;
        private boolean done;

        Answer(Peer peer, long id, EndpointRoute route, Channel socket, long acceptedNanos) {
            this.peer = peer;
            this.id = id;
            this.route = route;
            this.socket = socket;
            this.acceptedNanos = acceptedNanos;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (!(msg instanceof Http2HeadersFrame frame) || done) {
                    return;
                }
                done = true;
                Http2Headers h = frame.headers();
                CharSequence target = h.get(Protocol.HEADER_TARGET);
                if (!"200".contentEquals(h.status()) || target == null || frame.isEndStream()) {
                    failHere(ctx, "node " + peer.id() + " answered " + h.status());
                    return;
                }
                HostAndPort to = HostAndPort.parse(target.toString());
                long session = parseLong(h.get(Protocol.HEADER_SESSION));
                Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
                ctx.pipeline().remove(this);
                events.started(id, route, socket, to, session, acceptedNanos);
                ConsumerStreams.answer(socket, to, session); // an agent listener's stream learns it is carried
                StreamRelay.start(
                        socket,
                        stream,
                        (relay, outcome, detail) ->
                                events.ended(id, route, socket, to, session, relay, outcome, detail));
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset && !done) {
                done = true;
                failHere(
                        ctx,
                        "node " + peer.id() + " reset the relay stream (" + reset.errorCode()
                                + "): its agent could not carry the connection");
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!done) {
                done = true;
                fail(id, route, socket, acceptedNanos, "the link to node " + peer.id() + " ended before its answer");
            }
            ctx.fireChannelInactive();
        }

        private void failHere(ChannelHandlerContext ctx, String reason) {
            ctx.close();
            fail(id, route, socket, acceptedNanos, reason);
        }
    }

    private static long parseLong(CharSequence text) {
        try {
            return text == null ? 0 : Long.parseLong(text.toString());
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
