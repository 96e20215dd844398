package dev.underpass.controlplane.cluster;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Sql;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * The gateway nodes that share this store. Each node {@linkplain #beat beats} every few seconds
 * with where agents and peers reach it and what its agents serve; a node whose last beat is older
 * than the heartbeat timeout is gone. Ages are measured on the database's clock, never by
 * comparing two nodes' clocks.
 */
public final class Nodes {
    /** How often a node beats. */
    public static final Duration INTERVAL = Duration.ofSeconds(2);
    /** How old a node's last heartbeat may be before it counts as gone: a few missed beats. */
    public static final Duration TIMEOUT = Duration.ofSeconds(10);
    /** Gone nodes' rows are removed after this, so that the list does not grow with every restart. */
    static final Duration FORGET_AFTER = Duration.ofHours(1);

    private final Jdbi jdbi;

    public Nodes(Jdbi jdbi) {
        this.jdbi = Objects.requireNonNull(jdbi, "jdbi");
    }

    /** What a node says of itself at each heartbeat. */
    public record Beat(
            String id,
            String agentAddress,
            String apiAddress,
            String version,
            boolean draining,
            int sessions,
            String serving) {
        public Beat {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(agentAddress, "agentAddress");
            Objects.requireNonNull(apiAddress, "apiAddress");
            Objects.requireNonNull(version, "version");
            Objects.requireNonNull(serving, "serving");
        }
    }

    /** A node as the store last heard of it. */
    public record Node(
            String id,
            String agentAddress,
            String apiAddress,
            String version,
            Instant startedAt,
            Instant heartbeatAt,
            long secondsSinceHeartbeat,
            String state,
            int sessions,
            @JsonIgnore String serving) {
        public static final String LIVE = "live";
        public static final String DRAINING = "draining";
        public static final String GONE = "gone";

        /** Whether this node takes connections: it beats and does not drain. */
        public boolean live() {
            return LIVE.equals(state);
        }
    }

    /** The answer of {@code GET /v1/nodes}. */
    public record NodeList(List<Node> items) {}

    /**
     * Records a heartbeat of {@code beat}'s node (its first one registers it) and returns every
     * node the store knows, this one included; forgets nodes gone for long.
     */
    public List<Node> beat(Beat beat) {
        return jdbi.inTransaction(h -> {
            int updated = h.createUpdate(
                            "update gateway_nodes set agent_address = :agent, api_address = :api, version = :version, "
                                    + "heartbeat_at = current_timestamp, draining = :draining, sessions = :sessions, "
                                    + "serving = :serving where id = :id")
                    .bindMethods(beat)
                    .bind("agent", beat.agentAddress())
                    .bind("api", beat.apiAddress())
                    .execute();
            if (updated == 0) {
                h.createUpdate(
                                "insert into gateway_nodes (id, agent_address, api_address, version, started_at, heartbeat_at, "
                                        + "draining, sessions, serving) values (:id, :agent, :api, :version, "
                                        + "current_timestamp, current_timestamp, :draining, :sessions, :serving)")
                        .bindMethods(beat)
                        .bind("agent", beat.agentAddress())
                        .bind("api", beat.apiAddress())
                        .execute();
            }
            List<Node> all = all(h);
            for (Node n : all) {
                if (n.secondsSinceHeartbeat() > FORGET_AFTER.toSeconds()) {
                    h.createUpdate("delete from gateway_nodes where id = :id")
                            .bind("id", n.id())
                            .execute();
                }
            }
            return all.stream()
                    .filter(n -> n.secondsSinceHeartbeat() <= FORGET_AFTER.toSeconds())
                    .toList();
        });
    }

    /**
     * Checks, before a node's first beat, that no other live node uses its id (a data directory
     * copied with its {@code node-id}): two nodes on one row would each hide the other.
     *
     * @throws IllegalStateException naming the other node's address
     */
    public void checkUnique(String id, String agentAddress) {
        jdbi.useHandle(h -> {
            for (Node n : all(h)) {
                if (n.id().equals(id)
                        && !n.state().equals(Node.GONE)
                        && !n.agentAddress().equals(agentAddress)) {
                    throw new IllegalStateException("node id " + id + " is already used by a live node at "
                            + n.agentAddress() + " (a copied data directory? give each node its own cluster.nodeId, "
                            + "or delete DATA_DIR/node-id to have one generated)");
                }
            }
        });
    }

    /** A node that stops cleanly leaves at once instead of waiting for its heartbeat to age. */
    public void leave(String id) {
        jdbi.useHandle(h -> h.createUpdate("delete from gateway_nodes where id = :id")
                .bind("id", id)
                .execute());
    }

    /** Every node the store knows, oldest first: for the operator (API {@code GET /v1/nodes}). */
    public NodeList list(Principal p) {
        p.require(Scope.ACCOUNTS_READ); // the operator account's: nodes serve every tenant
        return new NodeList(jdbi.withHandle(Nodes::all).stream()
                .map(n -> new Node(
                        n.id(),
                        n.agentAddress(),
                        n.apiAddress(),
                        n.version(),
                        n.startedAt(),
                        n.heartbeatAt(),
                        n.secondsSinceHeartbeat(),
                        n.state(),
                        n.sessions(),
                        null)) // what agents serve names tenants' targets: not part of the listing
                .toList());
    }

    private static List<Node> all(Handle h) {
        return h.createQuery("select n.*, current_timestamp as now from gateway_nodes n order by started_at, id")
                .map((rs, ctx) -> {
                    Instant heartbeat = Sql.instant(rs, "heartbeat_at");
                    long age = Math.max(
                            0,
                            Duration.between(heartbeat, Sql.instant(rs, "now")).toSeconds());
                    String state = age > TIMEOUT.toSeconds()
                            ? Node.GONE
                            : rs.getBoolean("draining") ? Node.DRAINING : Node.LIVE;
                    return new Node(
                            rs.getString("id"),
                            rs.getString("agent_address"),
                            rs.getString("api_address"),
                            rs.getString("version"),
                            Sql.instant(rs, "started_at"),
                            heartbeat,
                            age,
                            state,
                            rs.getInt("sessions"),
                            rs.getString("serving"));
                })
                .list();
    }
}
