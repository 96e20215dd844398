package dev.underpass.agent.link;

import dev.underpass.protocol.HostAndPort;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's links to the nodes of a gateway cluster, as cloudflared keeps connections to several
 * edge locations (docs/cluster.md). The first link dials the configured address (one gateway, a
 * load balancer or a DNS name with several addresses) and reconnects there forever. Every session
 * answer names the gateway's live nodes, the answering one first; further links dial other nodes
 * directly until this agent has {@code count} of them. A further link that stays without a session
 * for {@link #REPLACE_AFTER} is replaced by one to a node it has no link to, and while the first
 * link is down one more is opened, so that the loss of a node leaves the agent with as many links.
 * Each link reconnects, authenticates and drains on its own; all present the same credential.
 */
public final class GatewayLinks implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.agent");
    /** How long a link to one node may stay down before another node is tried instead. */
    static final Duration REPLACE_AFTER = Duration.ofSeconds(10);

    private static final Duration CHECK = Duration.ofSeconds(2);

    /** Makes a link to {@code address} that reports the nodes it learns to {@code onNodes}. */
    public interface Factory {
        GatewayLink create(HostAndPort address, Consumer<List<HostAndPort>> onNodes);
    }

    private final Factory factory;
    private final int count;
    private final GatewayLink first;
    private final List<GatewayLink> more = new ArrayList<>();
    /** Links being moved off, and since when (System.nanoTime): closed once their connections have ended. */
    private final List<GatewayLink> retiring = new ArrayList<>();

    private final java.util.Map<GatewayLink, Long> retiredAt = new java.util.HashMap<>();
    private final Duration retireTimeout;
    private final ScheduledExecutorService checks = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("underpass-links").daemon().factory());
    // Guarded by this.
    private List<HostAndPort> nodes = List.of();
    private HostAndPort firstNode;
    private int nextNode;
    /** Nodes whose link was given up, and until when (System.nanoTime) they are not tried again. */
    private final java.util.Map<HostAndPort, Long> avoid = new java.util.HashMap<>();

    private boolean closed;
    /** Which link {@link #session} tries first next; guarded by this. */
    private int nextSession;

    /**
     * {@code count} links at most, the first to {@code gateway}; none connects before
     * {@link #start()}. A link moved off closes at most {@code retireTimeout} later.
     */
    public GatewayLinks(HostAndPort gateway, int count, Duration retireTimeout, Factory factory) {
        this.factory = Objects.requireNonNull(factory, "factory");
        this.retireTimeout = Objects.requireNonNull(retireTimeout, "retireTimeout");
        this.count = count;
        this.first = factory.create(gateway, nodes -> learned(true, nodes));
    }

    /**
     * A session of protocol version {@code minVersion} or newer to open a stream on, taking the
     * links in turn; null while none has one.
     */
    public io.netty.handler.codec.http2.Http2StreamChannel session(int minVersion) {
        List<GatewayLink> all = new ArrayList<>();
        int start;
        synchronized (this) {
            all.add(first);
            all.addAll(more);
            start = nextSession++;
        }
        for (int i = 0; i < all.size(); i++) {
            var s = all.get(Math.floorMod(start + i, all.size())).session(minVersion);
            if (s != null) {
                return s;
            }
        }
        return null;
    }

    public void start() {
        first.start();
        checks.scheduleWithFixedDelay(this::rebalance, CHECK.toMillis(), CHECK.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * A session answer named the gateway's nodes. Called on a link's event loop: the work moves to
     * the links' own thread, so that no event loop ever waits for this object's lock (closing a
     * link waits for its event loop to finish).
     */
    private void learned(boolean fromFirst, List<HostAndPort> answer) {
        if (answer.isEmpty()) {
            return;
        }
        try {
            checks.execute(() -> apply(fromFirst, answer));
        } catch (java.util.concurrent.RejectedExecutionException stopping) {
            // the agent drains or stops: no link opens any more
        }
    }

    private synchronized void apply(boolean fromFirst, List<HostAndPort> answer) {
        if (closed) {
            return;
        }
        if (fromFirst) {
            firstNode = answer.getFirst();
        }
        if (!answer.equals(nodes)) {
            log.info("the gateway has {} node(s): {}", answer.size(), answer);
        }
        nodes = answer;
        rebalance();
    }

    /**
     * Closes duplicate and long-dead further links, and opens links to other nodes up to the
     * count. Runs on the links' own thread only.
     */
    private synchronized void rebalance() {
        if (closed || count == 1) {
            return;
        }
        for (GatewayLink l : List.copyOf(retiring)) {
            if (!l.busy() || System.nanoTime() - retiredAt.get(l) > retireTimeout.toNanos()) {
                retiring.remove(l);
                retiredAt.remove(l);
                l.close();
                log.info("closed the link to gateway node {}", l.address());
            }
        }
        for (GatewayLink l : List.copyOf(more)) {
            boolean duplicate = l.address().equals(firstNode) && first.hasSession();
            boolean dead = l.down().compareTo(REPLACE_AFTER) > 0 && nodes.size() > linkedNodes();
            if (dead) {
                log.info(
                        "closing the link to gateway node {}: no session for {}s",
                        l.address(),
                        l.down().toSeconds());
                more.remove(l);
                avoid.put(l.address(), System.nanoTime() + REPLACE_AFTER.toNanos());
                l.close();
            } else if (duplicate) {
                retire(l, "the first link reached that node");
            }
        }
        int wanted = count - (first.down().compareTo(REPLACE_AFTER) > 0 ? 0 : 1);
        while (more.size() > wanted) { // the first link is back: the one opened in its stead goes
            retire(more.getLast(), "the first link is back");
        }
        for (int tried = 0; more.size() < wanted && tried < nodes.size(); tried++) {
            HostAndPort node = nodes.get(Math.floorMod(nextNode++, nodes.size()));
            if (node.equals(firstNode)
                    || more.stream().anyMatch(l -> l.address().equals(node))) {
                continue;
            }
            if (avoid.getOrDefault(node, 0L) - System.nanoTime() > 0) {
                continue; // its link was just given up: other nodes first
            }
            GatewayLink link = factory.create(node, answer -> learned(false, answer));
            more.add(link);
            log.info("opening a link to gateway node {} ({} of {})", node, more.size() + 1, count);
            link.start();
        }
    }

    /**
     * Moves off a link without cutting its connections: the gateway routes nothing new to it, and
     * it closes once they have ended (at most {@code retireTimeout} later).
     */
    private void retire(GatewayLink l, String why) {
        more.remove(l);
        retiring.add(l);
        retiredAt.put(l, System.nanoTime());
        log.info("moving off the link to gateway node {}: {}; it closes once its connections end", l.address(), why);
        l.retire(why);
    }

    private int linkedNodes() {
        return more.size() + 1;
    }

    /** Waits until the first link has a session. */
    public boolean awaitSession(Duration timeout) throws InterruptedException {
        return first.awaitSession(timeout);
    }

    /** Whether any link has a session now. */
    public synchronized boolean hasSession() {
        return first.hasSession() || more.stream().anyMatch(GatewayLink::hasSession);
    }

    /** Drains every link (see {@link GatewayLink#drain()}); false when none had a session. */
    public boolean drain() throws InterruptedException {
        List<GatewayLink> all;
        synchronized (this) {
            closed = true;
            all = new ArrayList<>(more);
        }
        checks.shutdownNow();
        boolean any = first.drain();
        for (GatewayLink l : all) {
            any |= l.drain();
        }
        synchronized (this) {
            return any || !retiring.isEmpty(); // links being moved off may still carry connections
        }
    }

    @Override
    public void close() {
        List<GatewayLink> all;
        synchronized (this) {
            closed = true;
            all = new ArrayList<>(more);
            all.addAll(retiring);
        }
        checks.shutdownNow();
        first.close();
        all.forEach(GatewayLink::close);
    }
}
