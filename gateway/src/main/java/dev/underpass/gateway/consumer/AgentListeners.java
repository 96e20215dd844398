package dev.underpass.gateway.consumer;

import dev.underpass.gateway.audit.ConnectionAudit;
import dev.underpass.gateway.link.AgentConnects;
import dev.underpass.gateway.link.AgentSession;
import dev.underpass.gateway.link.ConsumerStreams;
import dev.underpass.gateway.link.Problems;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.StreamSocket;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Agent listeners, the gateway's side (bidirectional, protocol version 3): an agent's file lists
 * local addresses that carry connections to endpoints of its own account; the agent advertises
 * them, and this tells each session which may take connections now (the endpoint is available
 * and the agent's account is its consumer) and carries the connect streams of those that may, as
 * consumer connections of the endpoint's port; a connection from an agent's forward proxy names
 * its destination, which leads where the gateway's own proxy would lead the account. An endpoint
 * rejected or deleted closes its port,
 * which resets the live connections at once; the agents close the listeners when told, within
 * {@link #INTERVAL}.
 */
public final class AgentListeners implements AgentConnects, AutoCloseable {
    /** How often every session's listener states are compared with the endpoint ports. */
    static final Duration INTERVAL = Duration.ofSeconds(1);

    private final EndpointPorts ports;
    /** Where the agents' forward proxies' destinations lead: the names of each account's endpoints. */
    private final ConsumerRoutes routes;

    private final Set<AgentSession> sessions = ConcurrentHashMap.newKeySet();
    private volatile ScheduledFuture<?> refresh;

    public AgentListeners(EndpointPorts ports, ConsumerRoutes routes) {
        this.ports = ports;
        this.routes = routes;
    }

    /** Starts comparing states every {@link #INTERVAL} on {@code scheduler}. */
    public void start(ScheduledExecutorService scheduler) {
        refresh = scheduler.scheduleWithFixedDelay(
                this::refresh, INTERVAL.toMillis(), INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** A session advertised (again): it is told its listeners' states now, and whenever they change. */
    public void advertised(AgentSession session) {
        if (session.listeners().isEmpty()) {
            sessions.remove(session);
            return;
        }
        if (sessions.add(session)) {
            session.link().closeFuture().addListener(f -> sessions.remove(session));
        }
        session.link().eventLoop().execute(() -> session.listenerStates(states(session)));
    }

    private void refresh() {
        for (AgentSession s : sessions) {
            s.link().eventLoop().execute(() -> s.listenerStates(states(s)));
        }
    }

    /** Each advertised listener with whether it takes connections now, and why not. */
    private List<ControlMessage.Listener> states(AgentSession session) {
        List<ControlMessage.Listener> states = new ArrayList<>();
        for (ControlMessage.Listener l : session.listeners()) {
            boolean open = port(session, l.endpoint(), l.port()) != null;
            states.add(new ControlMessage.Listener(
                    l.address(),
                    l.endpoint(),
                    l.port(),
                    open,
                    open ? null : notAvailable(session, l.endpoint(), l.port())));
        }
        return states;
    }

    /**
     * The open port of {@code endpoint} (an id, or the service {@code provider/service}) that
     * {@code session}'s account consumes, or null.
     */
    private EndpointPorts.BoundPort port(AgentSession session, String endpoint, int servicePort) {
        if (!endpoint.startsWith("ep-")) {
            return ports.findByService(session.account(), endpoint, servicePort);
        }
        EndpointPorts.BoundPort p = ports.find(endpoint, servicePort);
        return p != null && p.route().consumerAccount().equals(session.account()) ? p : null;
    }

    /** The same words whether the endpoint is another account's or does not exist: nothing leaks. */
    private static String notAvailable(AgentSession session, String endpoint, int servicePort) {
        return "endpoint " + endpoint + " of account " + session.account() + " has no available service port "
                + servicePort;
    }

    @Override
    public void accept(AgentSession session, Http2StreamChannel stream, Http2Headers h) {
        CharSequence destination = h.get(Protocol.HEADER_DESTINATION);
        if (destination != null) {
            proxied(session, stream, destination.toString(), h.get(Protocol.HEADER_CLIENT));
            return;
        }
        CharSequence endpoint = h.get(Protocol.HEADER_ENDPOINT);
        int servicePort = port(h.get(Protocol.HEADER_SERVICE_PORT));
        if (endpoint == null || servicePort == 0) {
            answer(
                    stream,
                    400,
                    "Bad request",
                    "expected " + Protocol.HEADER_ENDPOINT + " and " + Protocol.HEADER_SERVICE_PORT);
            return;
        }
        String id = endpoint.toString();
        if (!session.listensFor(id, servicePort)) {
            answer(stream, 403, "Forbidden", "this agent advertised no listener for " + id + " port " + servicePort);
            return;
        }
        EndpointPorts.BoundPort port = port(session, id, servicePort);
        if (port == null) {
            answer(stream, 404, "Not found", notAvailable(session, id, servicePort));
            return;
        }
        carry(session, stream, port, h.get(Protocol.HEADER_CLIENT));
    }

    /**
     * A connection from the agent's forward proxy: {@code destination} leads where the gateway's
     * own proxy would lead the session's account, to one of its available endpoints, or nowhere.
     */
    private void proxied(AgentSession session, Http2StreamChannel stream, String destination, CharSequence client) {
        HostAndPort to;
        try {
            to = HostAndPort.parse(destination);
        } catch (IllegalArgumentException e) {
            answer(stream, 400, "Bad request", Protocol.HEADER_DESTINATION + ": not host:port");
            return;
        }
        EndpointPorts.BoundPort port = routes.find(session.account(), to.host(), to.port());
        if (port == null) {
            answer(
                    stream,
                    404,
                    "Not found",
                    to + " is not the name and port of an available endpoint of account " + session.account());
            return;
        }
        carry(session, stream, port, client);
    }

    private void carry(
            AgentSession session, Http2StreamChannel stream, EndpointPorts.BoundPort port, CharSequence client) {
        ConnectionAudit.agentListener(
                stream,
                session.account(),
                "agent " + session.agentName() + " (session " + session.id() + ")"
                        + (client == null ? "" : " for " + client));
        ConsumerStreams.fromAgent(stream);
        ports.carryFromAgent(port, StreamSocket.adapt(stream));
    }

    /** A refusal as a problem document, which ends the stream; the agent resets its client's connection. */
    private static void answer(Http2StreamChannel stream, int status, String title, String reason) {
        GatewayLog.CONNECTIONS.info("agent listener connection refused ({}): {}", status, reason);
        Problems.send(stream, status, title, reason);
    }

    private static int port(CharSequence text) {
        try {
            int p = text == null ? 0 : Integer.parseInt(text.toString());
            return p >= 1 && p <= 65535 ? p : 0;
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    @Override
    public void close() {
        ScheduledFuture<?> r = refresh;
        if (r != null) {
            r.cancel(false);
        }
    }
}
