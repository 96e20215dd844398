package dev.underpass.gateway.observe;

import dev.underpass.gateway.audit.ConnectionAudit;
import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.StreamRelay;
import dev.underpass.telemetry.RepeatedEvents;
import io.netty.channel.Channel;
import java.net.SocketAddress;

/**
 * The one place where a consumer connection's life becomes a log line, metrics and an audit
 * record (ADR 0014), so that no entrance writes the same refusal out three times by hand.
 */
public final class ConnectionReports implements ConnectionEvents {
    private final GatewayMetrics metrics;
    private final ConnectionAudit audit;
    /** Refusals, one line per endpoint port and interval: while no agent is there, every connection is one. */
    private final RepeatedEvents refusals;

    public ConnectionReports(GatewayMetrics metrics, ConnectionAudit audit, RepeatedEvents refusals) {
        this.metrics = metrics;
        this.audit = audit;
        this.refusals = refusals;
    }

    @Override
    public void started(
            long id, EndpointRoute r, Channel socket, HostAndPort target, long session, long acceptedNanos) {
        GatewayLog.CONNECTIONS.debug(
                "connection {} endpoint={} port={} from={} target={} on session {} ({} us)",
                id,
                r.endpoint(),
                r.servicePort(),
                socket.remoteAddress(),
                target,
                session,
                (System.nanoTime() - acceptedNanos) / 1000);
        metrics.started(r, acceptedNanos);
    }

    @Override
    public void ended(
            long id,
            EndpointRoute r,
            Channel socket,
            HostAndPort target,
            long session,
            StreamRelay relay,
            StreamRelay.Outcome outcome,
            String detail) {
        metrics.ended(r, relay, outcome);
        audit.relayed(r, socket, relay, outcome, detail);
        GatewayLog.CONNECTIONS.info(
                "connection {} endpoint={} port={} from={} target={} session={} closed: {}{} "
                        + "sent={} received={} duration={}ms",
                id,
                r.endpoint(),
                r.servicePort(),
                socket.remoteAddress(),
                target,
                session,
                outcome,
                detail == null ? "" : " (" + detail + ")",
                relay.bytesFromStream(),
                relay.bytesFromSocket(),
                relay.elapsed().toMillis());
    }

    @Override
    public void failed(
            long id,
            EndpointRoute r,
            Channel socket,
            HostAndPort target,
            String kind,
            String reason,
            long acceptedNanos) {
        if (kind != null) {
            metrics.dialFailed(r, kind);
        }
        GatewayLog.CONNECTIONS.warn(
                "connection {} endpoint={} port={} from={} target={} failed: {}",
                id,
                r.endpoint(),
                r.servicePort(),
                socket.remoteAddress(),
                target,
                reason);
        audit.failed(r, socket, (System.nanoTime() - acceptedNanos) / 1_000_000, reason);
    }

    @Override
    public void aborted(long id, EndpointRoute r, SocketAddress from, HostAndPort target, String kind, String reason) {
        if (kind != null) {
            metrics.dialFailed(r, kind);
        }
        GatewayLog.CONNECTIONS.warn(
                "connection {} endpoint={} port={} from={} target={} failed: {}",
                id,
                r.endpoint(),
                r.servicePort(),
                from,
                target,
                reason);
    }

    @Override
    public void refused(long id, EndpointRoute r, Channel socket, String kind, String reason) {
        metrics.dialFailed(r, kind);
        // The connection limit logs its own line, per account (ConsumerLimit).
        if (!"limit".equals(kind)) {
            refusals.warn(
                    r.endpoint() + ":" + r.servicePort(),
                    "connection {} endpoint={} port={} from={} refused: {}",
                    id,
                    r.endpoint(),
                    r.servicePort(),
                    socket.remoteAddress(),
                    reason);
        }
        audit.refused(r, socket, kind, reason);
    }

    @Override
    public void egressEnded(Channel client, String destination, long toDestination, long toClient, long millis) {
        GatewayLog.PROXY.info(
                "egress connection from {} to {} closed: sent={} received={} duration={}ms",
                client.remoteAddress(),
                destination,
                toDestination,
                toClient,
                millis);
        audit.egress(client, destination, toClient, toDestination, millis);
    }

    @Override
    public void proxyRefused(Channel client, String destination, String reason) {
        audit.refused(client, destination, reason);
    }
}
