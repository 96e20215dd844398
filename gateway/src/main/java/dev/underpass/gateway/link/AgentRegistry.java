package dev.underpass.gateway.link;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import dev.underpass.controlplane.endpoint.AgentListenerViews;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.HostAndPort;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** The live agent sessions of each account, and the choice of one for a new connection. */
public final class AgentRegistry {
    private final Map<String, List<AgentSession>> byAccount = new ConcurrentHashMap<>();
    private final AtomicInteger next = new AtomicInteger();

    void add(AgentSession session) {
        byAccount
                .computeIfAbsent(session.account(), a -> new CopyOnWriteArrayList<>())
                .add(session);
    }

    void remove(AgentSession session) {
        List<AgentSession> sessions = byAccount.get(session.account());
        if (sessions != null) {
            sessions.remove(session);
        }
    }

    /**
     * The session and target for a new connection of {@code route}: among the live sessions of the
     * provider account that are not draining and advertised a target, those whose agent has not
     * found that target unhealthy; when every one has, all of them if the service fails open. Then
     * the session with the fewest outstanding connections (ties in turn), or simply in turn.
     */
    public Choice choose(EndpointRoute route) {
        List<AgentSession> sessions = byAccount.getOrDefault(route.providerAccount(), List.of());
        List<Choice> serving = new ArrayList<>();
        List<Choice> healthy = new ArrayList<>();
        for (AgentSession s : sessions) {
            if (!s.link().isActive() || s.draining()) {
                continue;
            }
            for (EndpointRoute.Target t : route.targets()) {
                if (s.serves(t.address())) {
                    AgentSession.TargetHealth h = s.health(t.checkId());
                    boolean good = h == null || h.healthy();
                    Choice c = new Choice(s, t.address(), null, null, good);
                    serving.add(c);
                    if (good) {
                        healthy.add(c);
                    }
                }
            }
        }
        if (serving.isEmpty()) {
            return Choice.refused(
                    "no_agent",
                    "no agent of account " + route.providerAccount() + " is connected and advertises "
                            + route.addresses());
        }
        List<Choice> candidates = healthy;
        if (healthy.isEmpty()) {
            if (!route.failOpen()) {
                return Choice.refused(
                        "all_unhealthy",
                        "every target of port " + route.servicePort() + " is unhealthy and service " + route.service()
                                + " fails closed");
            }
            candidates = serving;
        }
        int start = Math.floorMod(next.getAndIncrement(), candidates.size());
        if (route.balancing() == EndpointRoute.Balancing.ROUND_ROBIN) {
            return candidates.get(start);
        }
        Choice best = null;
        for (int i = 0; i < candidates.size(); i++) {
            Choice c = candidates.get((start + i) % candidates.size());
            if (best == null || c.session().outstanding() < best.session().outstanding()) {
                best = c;
            }
        }
        return best;
    }

    /** Ends every session that authenticated with agent token {@code tokenId}, saying {@code why}. */
    public void closeSessionsOf(String tokenId, String why) {
        for (List<AgentSession> sessions : byAccount.values()) {
            for (AgentSession s : sessions) {
                if (s.tokenId().equals(tokenId)) {
                    GatewayLog.SESSIONS.info("{} ended: {}", s, why);
                    s.link().close();
                }
            }
        }
    }

    /** Tells every agent that the gateway is stopping and to try it again about every {@code reconnect} once it is gone. */
    public int gatewayStopping(java.time.Duration reconnect) {
        int n = 0;
        for (List<AgentSession> sessions : byAccount.values()) {
            for (AgentSession s : sessions) {
                s.link().eventLoop().execute(() -> s.gatewayStopping(reconnect));
                n++;
            }
        }
        return n;
    }

    /** How many live sessions of {@code account} advertise at least one of {@code targets}. */
    public int sessionsServing(String account, List<HostAndPort> targets) {
        int n = 0;
        for (AgentSession s : byAccount.getOrDefault(account, List.of())) {
            if (s.link().isActive() && targets.stream().anyMatch(s::serves)) {
                n++;
            }
        }
        return n;
    }

    /** The agent tokens of the live sessions. */
    public Set<String> tokenIds() {
        Set<String> ids = new HashSet<>();
        byAccount.values().forEach(sessions -> sessions.forEach(s -> ids.add(s.tokenId())));
        return ids;
    }

    /**
     * A session and target, or why there is none ({@code session} null); {@code healthy}: the
     * target is not known to be unhealthy (a choice among unhealthy ones is a service failing open).
     */
    public record Choice(AgentSession session, HostAndPort target, String kind, String refusal, boolean healthy) {
        /** No session: {@code kind} for the metrics, {@code why} for the log. */
        static Choice refused(String kind, String why) {
            return new Choice(null, null, kind, why, false);
        }
    }

    /**
     * What this node's sessions of one account serve, for the other nodes (docs/cluster.md): per
     * target the sessions that advertise it, the health checks that all of them find unhealthy,
     * and the agent listeners they host (left out when none, so that a node of an earlier version
     * reads the list as before; unknown fields are ignored for the versions after this one).
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Served(
            Map<String, Integer> targets,
            Set<String> unhealthyChecks,
            @JsonInclude(JsonInclude.Include.NON_EMPTY) List<Listening> listening) {
        public Served {
            targets = targets == null ? Map.of() : targets;
            unhealthyChecks = unhealthyChecks == null ? Set.of() : unhealthyChecks;
            listening = listening == null ? List.of() : List.copyOf(listening);
        }
    }

    /**
     * An agent listener of a session, with the state the gateway last told it: {@code endpoint}
     * as the agent's file names it, an endpoint id or a service reference.
     */
    public record Listening(
            String agent, long session, String address, String endpoint, int port, boolean open, String reason) {
        /** Whether it listens for endpoint {@code endpointId} to service {@code serviceRef}. */
        public boolean isFor(String endpointId, String serviceRef) {
            return endpoint.equals(endpointId) || endpoint.equals(serviceRef);
        }

        /** As the API shows it, hosted by a session on gateway node {@code node}. */
        public AgentListenerViews.Hosted on(String node) {
            return new AgentListenerViews.Hosted(node, agent, session, address, port, open, reason);
        }
    }

    /** The agent listeners of {@code account}'s live sessions on this node. */
    public List<Listening> listening(String account) {
        List<Listening> all = new ArrayList<>();
        for (AgentSession s : byAccount.getOrDefault(account, List.of())) {
            for (ControlMessage.Listener l : s.listenerStates()) {
                all.add(new Listening(
                        s.agentName(),
                        s.id(),
                        l.address(),
                        l.endpoint(),
                        l.port(),
                        Boolean.TRUE.equals(l.open()),
                        l.reason()));
            }
        }
        return all;
    }

    /** Per account: what its live, not draining sessions serve. */
    public Map<String, Served> served() {
        Map<String, Served> all = new java.util.TreeMap<>();
        byAccount.forEach((account, sessions) -> {
            Map<String, Integer> targets = new java.util.TreeMap<>();
            Map<String, Boolean> anyHealthy = new HashMap<>();
            for (AgentSession s : sessions) {
                if (!s.link().isActive() || s.draining()) {
                    continue;
                }
                s.targets().forEach(t -> targets.merge(t.toString(), 1, Integer::sum));
                s.verdicts().forEach((check, h) -> anyHealthy.merge(check, h.healthy(), Boolean::logicalOr));
            }
            List<Listening> listening = listening(account);
            if (!targets.isEmpty() || !listening.isEmpty()) {
                Set<String> unhealthy = new java.util.TreeSet<>();
                anyHealthy.forEach((check, healthy) -> {
                    if (!healthy) {
                        unhealthy.add(check);
                    }
                });
                all.put(account, new Served(targets, unhealthy, listening));
            }
        });
        return all;
    }

    /** Every live session of {@code account}. */
    List<AgentSession> sessionsOf(String account) {
        return List.copyOf(byAccount.getOrDefault(account, List.of()));
    }

    /** Every live session. */
    public List<AgentSession> all() {
        List<AgentSession> all = new ArrayList<>();
        byAccount.values().forEach(all::addAll);
        return all;
    }
}
