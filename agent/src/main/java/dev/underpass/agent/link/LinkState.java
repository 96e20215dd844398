package dev.underpass.agent.link;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.CompletableFuture;

/** Per-link state, kept on the link's channel: why it ended, its session and heartbeat. */
final class LinkState {
    private static final AttributeKey<LinkState> KEY = AttributeKey.valueOf("underpass.link");
    private volatile String reason;
    /** Set when the gateway said it is stopping: try it again about this often once the link closed. */
    volatile Long reconnectMillis;
    /** What the session request carries as its bearer credential: the token or this link's JWT; null for none. */
    final String bearer;

    ScheduledFuture<?> heartbeat;
    /** The version the gateway chose, once the session is established. */
    volatile int version;

    volatile Http2StreamChannel session;
    /** Completed when the gateway confirms a drain: it sends nothing new after that. */
    final CompletableFuture<Void> draining = new CompletableFuture<>();

    private LinkState(String bearer) {
        this.bearer = bearer;
    }

    /** Attaches a new state to {@code link}, as its pipeline is set up. */
    static void attach(Channel link, String bearer) {
        link.attr(KEY).set(new LinkState(bearer));
    }

    /** The state of {@code link}; null for a channel that never reached its pipeline set-up. */
    static LinkState of(Channel link) {
        return link.attr(KEY).get();
    }

    String reason() {
        return reason == null ? "the gateway closed the link" : reason;
    }

    /** Records why the link ends; the first reason wins, as later ones are its consequences. */
    void fail(String why) {
        if (reason == null) {
            reason = why;
        }
    }
}
