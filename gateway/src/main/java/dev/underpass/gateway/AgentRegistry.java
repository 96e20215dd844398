package dev.underpass.gateway;

import dev.underpass.protocol.HostAndPort;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** The live agent sessions of each account, and the choice of one for a new connection. */
final class AgentRegistry {
    private final Map<String, List<AgentSession>> byAccount = new ConcurrentHashMap<>();
    private final AtomicInteger next = new AtomicInteger();

    void add(AgentSession session) {
        byAccount.computeIfAbsent(session.account(), a -> new CopyOnWriteArrayList<>()).add(session);
    }

    void remove(AgentSession session) {
        List<AgentSession> sessions = byAccount.get(session.account());
        if (sessions != null) {
            sessions.remove(session);
        }
    }

    /** One session of {@code account} that advertised one of {@code targets}, in turn; or null. */
    Choice choose(String account, List<HostAndPort> targets) {
        List<AgentSession> sessions = byAccount.getOrDefault(account, List.of());
        int n = sessions.size() * targets.size();
        if (n == 0) {
            return null;
        }
        int start = Math.floorMod(next.getAndIncrement(), n);
        for (int i = 0; i < n; i++) {
            int k = (start + i) % n;
            AgentSession s;
            try {
                s = sessions.get(k % sessions.size());
            } catch (IndexOutOfBoundsException removedMeanwhile) {
                continue;
            }
            HostAndPort t = targets.get(k / sessions.size() % targets.size());
            if (s.serves(t) && s.link().isActive()) {
                return new Choice(s, t);
            }
        }
        return null;
    }

    /** Ends every session that authenticated with agent token {@code tokenId}, saying {@code why}. */
    void closeSessionsOf(String tokenId, String why) {
        for (List<AgentSession> sessions : byAccount.values()) {
            for (AgentSession s : sessions) {
                if (s.tokenId().equals(tokenId)) {
                    GatewayLog.SESSIONS.info("{} ended: {}", s, why);
                    s.link().close();
                }
            }
        }
    }

    /** How many live sessions of {@code account} advertise at least one of {@code targets}. */
    int sessionsServing(String account, List<HostAndPort> targets) {
        int n = 0;
        for (AgentSession s : byAccount.getOrDefault(account, List.of())) {
            if (s.link().isActive() && targets.stream().anyMatch(s::serves)) {
                n++;
            }
        }
        return n;
    }

    /** The agent tokens of the live sessions. */
    Set<String> tokenIds() {
        Set<String> ids = new HashSet<>();
        byAccount.values().forEach(sessions -> sessions.forEach(s -> ids.add(s.tokenId())));
        return ids;
    }

    record Choice(AgentSession session, HostAndPort target) {
    }
}
