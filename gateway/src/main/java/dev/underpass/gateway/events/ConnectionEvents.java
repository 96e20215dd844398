package dev.underpass.gateway.events;

import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.StreamRelay;
import io.netty.channel.Channel;
import java.net.SocketAddress;

/**
 * What happens to consumer connections, reported once each: the entrances (endpoint ports, the
 * forward proxy, the TLS listener) and the agent link call it, and one implementation turns each
 * event into its log line, its metrics and its audit record. {@code kind} is a short, fixed reason
 * (a metric label: no_agent, all_unhealthy, draining, limit, gateway_timeout, session_lost or a
 * {@code DialError} name); {@code reason} is the whole sentence for the log and the audit.
 */
public interface ConnectionEvents {
    /** Connection {@code id}'s data stream was answered on {@code session}: it relays from now on. */
    void started(long id, EndpointRoute route, Channel socket, HostAndPort target, long session, long acceptedNanos);

    /** A relayed connection ended; bytes and duration are the relay's. */
    void ended(
            long id,
            EndpointRoute route,
            Channel socket,
            HostAndPort target,
            long session,
            StreamRelay relay,
            StreamRelay.Outcome outcome,
            String detail);

    /**
     * A connection accepted and routed to an agent ended before it was relayed (the agent could not
     * dial, did not answer in time, went away; or the consumer left: {@code kind} null, not counted).
     */
    void failed(
            long id,
            EndpointRoute route,
            Channel socket,
            HostAndPort target,
            String kind,
            String reason,
            long acceptedNanos);

    /** A connection already relaying on a standby stream is being aborted; its relay's end reports the rest. */
    void aborted(long id, EndpointRoute route, SocketAddress from, HostAndPort target, String kind, String reason);

    /** A connection to {@code route} was refused before any agent was asked. */
    void refused(long id, EndpointRoute route, Channel socket, String kind, String reason);

    /** A connection the forward proxy carried to a public destination itself ({@code egressAllow}) ended. */
    void egressEnded(Channel client, String destination, long toDestination, long toClient, long millis);

    /** The forward proxy refused {@code destination} to the consumer it authenticated on {@code client}. */
    void proxyRefused(Channel client, String destination, String reason);
}
