package dev.underpass.gateway.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.underpass.controlplane.cluster.Nodes;
import dev.underpass.gateway.link.AgentRegistry;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's heartbeat in the shared store, every {@link Nodes#INTERVAL}: where agents and peers
 * reach it, whether it drains, and what its agents serve. Each beat brings back the other nodes,
 * kept here as the live {@link Peer}s; a node that joins or drops out is logged once.
 */
final class NodeHeartbeat implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.gateway.cluster");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<Map<String, AgentRegistry.Served>> SERVED = new TypeReference<>() {};

    private final Nodes nodes;
    private final String id;
    private final String version;
    private volatile String agentAddress;
    private volatile String apiAddress;
    private final AgentRegistry registry;
    private final BooleanSupplier draining;
    private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("underpass-heartbeat").daemon().factory());
    private final PeerView peers;
    private volatile List<String> agentAddresses = List.of();
    private volatile String problem = "no heartbeat yet";
    private Set<String> known = Set.of();

    NodeHeartbeat(
            Nodes nodes, String id, String version, AgentRegistry registry, BooleanSupplier draining, PeerView peers) {
        this.peers = Objects.requireNonNull(peers, "peers");
        this.nodes = Objects.requireNonNull(nodes, "nodes");
        this.id = Objects.requireNonNull(id, "id");
        this.version = Objects.requireNonNull(version, "version");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.draining = Objects.requireNonNull(draining, "draining");
    }

    /**
     * Beats once before returning (so that the node is listed as soon as it is ready), then on
     * schedule, naming where agents and peers reach this node and where its API is.
     */
    void start(String agentAddress, String apiAddress) throws Exception {
        this.agentAddress = Objects.requireNonNull(agentAddress, "agentAddress");
        this.apiAddress = Objects.requireNonNull(apiAddress, "apiAddress");
        awaitUniqueId();
        thread.submit(this::beat).get(30, TimeUnit.SECONDS);
        thread.scheduleWithFixedDelay(
                this::beat, Nodes.INTERVAL.toMillis(), Nodes.INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
        log.info(
                "node {} joined the gateway's nodes as {} (heartbeat every {}s)",
                id,
                agentAddress,
                Nodes.INTERVAL.toSeconds());
    }

    /**
     * Waits until no other live node uses this node's id: a node restarted elsewhere after a crash
     * finds its old row until that ages out; a second node with a copied id is refused.
     */
    private void awaitUniqueId() throws InterruptedException {
        long deadline = System.nanoTime() + Nodes.TIMEOUT.plus(Nodes.INTERVAL).toNanos();
        boolean told = false;
        while (true) {
            try {
                nodes.checkUnique(id, agentAddress);
                return;
            } catch (IllegalStateException taken) {
                if (System.nanoTime() - deadline > 0) {
                    throw taken;
                }
                if (!told) {
                    log.warn("{}; waiting up to {}s for it to age out", taken.getMessage(), Nodes.TIMEOUT.toSeconds());
                    told = true;
                }
                Thread.sleep(Nodes.INTERVAL.toMillis());
            }
        }
    }

    /** Beats now, off schedule: the node started draining, and the others should know at once. */
    void beatSoon() {
        if (!thread.isShutdown()) {
            thread.execute(this::beat);
        }
    }

    private void beat() {
        try {
            Map<String, AgentRegistry.Served> served = registry.served();
            List<Nodes.Node> all = nodes.beat(new Nodes.Beat(
                    id,
                    agentAddress,
                    apiAddress,
                    version,
                    draining.getAsBoolean(),
                    registry.all().size(),
                    JSON.writeValueAsString(served)));
            List<Peer> live = new ArrayList<>();
            List<String> addresses = new ArrayList<>(List.of(agentAddress)); // this node first
            Set<String> now = new HashSet<>();
            for (Nodes.Node n : all) {
                if (!n.live()) {
                    continue;
                }
                now.add(n.id());
                if (!n.id().equals(id)) {
                    addresses.add(n.agentAddress());
                    live.add(new Peer(n.id(), n.agentAddress(), parse(n)));
                }
            }
            peers.update(live);
            agentAddresses = List.copyOf(addresses);
            logChanges(all, now);
            if (problem != null) {
                log.info("node {}: heartbeat recorded ({} live node(s))", id, now.size());
            }
            problem = null;
        } catch (RuntimeException | JsonProcessingException e) {
            if (problem == null) {
                log.warn(
                        "node {}: heartbeat failed, retried every {}s: {}",
                        id,
                        Nodes.INTERVAL.toSeconds(),
                        e.toString());
            }
            problem = "the last heartbeat failed: " + e;
        }
    }

    private void logChanges(List<Nodes.Node> all, Set<String> now) {
        for (Nodes.Node n : all) {
            boolean was = known.contains(n.id());
            boolean is = now.contains(n.id());
            if (!n.id().equals(id) && was != is) {
                log.info(
                        "node {} ({}) {}",
                        n.id(),
                        n.agentAddress(),
                        is
                                ? "is live"
                                : "left: " + n.state() + ", last heartbeat " + n.secondsSinceHeartbeat() + "s ago");
            }
        }
        for (String gone : known) {
            if (all.stream().noneMatch(n -> n.id().equals(gone))) {
                log.info("node {} left", gone);
            }
        }
        known = now;
    }

    private static Map<String, AgentRegistry.Served> parse(Nodes.Node n) {
        try {
            return JSON.readValue(n.serving(), SERVED);
        } catch (JsonProcessingException e) {
            log.warn("node {}: unreadable list of what its agents serve, ignored: {}", n.id(), e.getOriginalMessage());
            return Map.of();
        }
    }

    /** This node's id. */
    String id() {
        return id;
    }

    /** The other live nodes, as of the last heartbeat. */
    List<Peer> peers() {
        return peers.peers();
    }

    /** Where agents reach each live node, this one first, as of the last heartbeat. */
    List<String> agentAddresses() {
        return agentAddresses;
    }

    /** Why this node's heartbeat does not reach the store, or null: for readiness. */
    String problem() {
        return problem;
    }

    /** Stops beating and leaves the list at once. */
    @Override
    public void close() {
        thread.shutdownNow();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
            nodes.leave(id);
            log.info("node {} left the gateway's nodes", id);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.warn(
                    "node {}: could not leave the list of nodes (it drops out after {}s): {}",
                    id,
                    Nodes.TIMEOUT.toSeconds(),
                    e.toString());
        }
    }
}
