package dev.underpass.gateway.link;

import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.StreamRelay;
import io.netty.channel.Channel;
import io.netty.util.concurrent.ScheduledFuture;

/**
 * A consumer connection accepted on an endpoint listener, waiting for its agent to dial the
 * target and open the data stream. Its socket is not read until then.
 */
public final class PendingConnection {
    private final long id;
    private final EndpointRoute route;
    private final HostAndPort target;
    private final Channel socket;
    private final long acceptedNanos = System.nanoTime();
    private volatile ScheduledFuture<?> timeout;

    public PendingConnection(long id, EndpointRoute route, HostAndPort target, Channel socket) {
        this.id = id;
        this.route = route;
        this.target = target;
        this.socket = socket;
    }

    long id() {
        return id;
    }

    EndpointRoute route() {
        return route;
    }

    HostAndPort target() {
        return target;
    }

    Channel socket() {
        return socket;
    }

    long acceptedNanos() {
        return acceptedNanos;
    }

    public void timeout(ScheduledFuture<?> timeout) {
        this.timeout = timeout;
    }

    void cancelTimeout() {
        ScheduledFuture<?> t = timeout;
        if (t != null) {
            t.cancel(false);
        }
    }

    /** Reports the failure and closes the consumer's socket with a reset, so that it is prompt and visible. */
    void fail(ConnectionEvents events, String kind, String reason) {
        cancelTimeout();
        events.failed(id, route, socket, target, kind, reason, acceptedNanos);
        StreamRelay.resetSocket(socket);
    }
}
