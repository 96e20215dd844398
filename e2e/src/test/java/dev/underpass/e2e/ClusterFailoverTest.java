package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.EchoServer;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three gateway nodes behind haproxy and a packet-level load balancer, two agents
 * (docs/cluster.md): the loss of a node mid-run fails only the connections it carried, visibly (a
 * reset, never a short or wrong echo, for consumers that come through the packet-level balancer
 * or straight to a node; haproxy's TCP mode turns the reset into an end once the consumer has
 * half-closed), and new connections go on at once through the others; a rolling restart of every node under a
 * stream of new connections loses none of them, and every account's audit chain stays one chain.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class ClusterFailoverTest {
    private static final int TRANSFERS = 100;
    private static final String HAPROXY = "haproxy";
    private static final int LENGTH = 512 * 1024;
    /** The nodes' heartbeat timeout: the longest a lost node may be routed to. */
    private static final Duration HEARTBEAT_TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    @Test
    void killingANodeMidRunResetsOnlyConnectionsAndNewOnesSucceedThroughTheOthers() throws Exception {
        try (EchoServer echo = new EchoServer();
                GatewayCluster c = GatewayCluster.start(dir, 3, 2, "127.0.0.1:" + echo.port(), 0)) {
            awaitEchoes(c.consumers());
            ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
            // A third of the consumers come through haproxy, a third through a packet-level load
            // balancer, a third straight to a node (as with a DNS name with every node's address).
            InetSocketAddress balancer = c.packetBalancer().address();
            Map<String, Map<PacedEcho.Outcome, Integer>> outcomes = new java.util.TreeMap<>();
            try {
                CountDownLatch underway = new CountDownLatch(TRANSFERS);
                List<Future<PacedEcho.Outcome>> transfers = new ArrayList<>();
                List<String> paths = new ArrayList<>();
                for (int i = 0; i < TRANSFERS; i++) {
                    int seed = i;
                    GatewayCluster.Node node = c.nodes().get(i / 3 % 3);
                    InetSocketAddress to = switch (i % 3) {
                        case 0 -> c.consumers();
                        case 1 -> balancer;
                        default -> node.endpoint();
                    };
                    paths.add(
                            switch (i % 3) {
                                case 0 -> HAPROXY;
                                case 1 -> "packet balancer";
                                default -> "node " + node.name;
                            });
                    transfers.add(pool.submit(() -> PacedEcho.transfer(to, seed, LENGTH, underway)));
                }
                assertThat(underway.await(2, TimeUnit.MINUTES))
                        .as("every transfer under way")
                        .isTrue();
                GatewayCluster.Node lost = c.nodes().get(1);
                lost.process.kill();
                long killed = System.nanoTime();
                for (int i = 0; i < TRANSFERS; i++) {
                    outcomes.computeIfAbsent(paths.get(i), p -> new EnumMap<>(PacedEcho.Outcome.class))
                            .merge(transfers.get(i).get(3, TimeUnit.MINUTES), 1, Integer::sum);
                }
                System.out.printf("after kill -9 of node %s mid-run: %s%n", lost.name, outcomes);
                outcomes.forEach((path, o) -> assertThat(o.getOrDefault(PacedEcho.Outcome.CORRUPTED, 0))
                        .as("no wrong echo through %s: %s", path, o)
                        .isZero());
                outcomes.forEach((path, o) -> {
                    if (!path.equals(HAPROXY)) {
                        assertThat(o.getOrDefault(PacedEcho.Outcome.TRUNCATED, 0))
                                .as("no silently short echo through %s: %s", path, o)
                                .isZero();
                    }
                });
                for (String survivor : List.of("node a", "node c", "packet balancer", HAPROXY)) {
                    assertThat(outcomes.get(survivor).getOrDefault(PacedEcho.Outcome.ECHOED, 0))
                            .as("connections through %s go on: %s", survivor, outcomes)
                            .isPositive();
                }
                // haproxy in TCP mode ends its consumer side with a FIN when a node dies after the
                // consumer finished sending: counted above, not asserted (docs/cluster.md).

                for (InetSocketAddress front : List.of(c.consumers(), balancer)) {
                    long millis = newConnectionsSucceedAgain(front, killed);
                    System.out.printf("new connections through %s succeed again %d ms after the kill%n", front, millis);
                    assertThat(Duration.ofMillis(millis)).isLessThan(HEARTBEAT_TIMEOUT);
                }

                // The node comes back and takes traffic again, through the load balancer too.
                lost.start();
                GatewayCluster.await("node " + lost.name + " ready", () -> lost.ready());
                assertThat(GatewayCluster.echoesOnce(lost.endpoint())).isTrue();
                String marker = "endpoint=" + c.endpointId();
                GatewayCluster.await("node " + lost.name + " carries connections from the load balancer", () -> {
                    for (int i = 0; i < 10; i++) {
                        assertThat(GatewayCluster.echoesOnce(c.consumers())).isTrue();
                    }
                    return lost.process
                                    .output()
                                    .lines()
                                    .filter(l -> l.contains(marker))
                                    .count()
                            > 1;
                });
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void aRollingRestartOfEveryNodeUnderNewConnectionsLosesNone() throws Exception {
        try (EchoServer echo = new EchoServer();
                GatewayCluster c = GatewayCluster.start(dir, 3, 2, "127.0.0.1:" + echo.port(), 3)) {
            awaitEchoes(c.consumers());
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger ok = new AtomicInteger();
            List<String> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
            ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
            try {
                List<Future<?>> clients = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    clients.add(pool.submit(() -> {
                        long end = System.nanoTime() + Duration.ofMinutes(5).toNanos();
                        while (!stop.get() && System.nanoTime() < end) {
                            String why = GatewayCluster.echoFailure(c.consumers());
                            if (why == null) {
                                ok.incrementAndGet();
                            } else {
                                failures.add(java.time.Instant.now() + " " + why);
                            }
                        }
                    }));
                }
                for (GatewayCluster.Node n : c.nodes()) {
                    int before = ok.get();
                    n.process.close(); // SIGTERM: not ready first, then drain, then stop
                    n.start();
                    GatewayCluster.await("node " + n.name + " ready again", n::ready);
                    c.awaitSessions(4);
                    int during = ok.get() - before;
                    System.out.printf("node %s restarted; %d connections meanwhile%n", n.name, during);
                    assertThat(during)
                            .as("connections went on while node %s restarted", n.name)
                            .isPositive();
                }
                stop.set(true);
                for (Future<?> f : clients) {
                    f.get(1, TimeUnit.MINUTES);
                }
            } finally {
                stop.set(true);
                pool.shutdownNow();
            }
            System.out.printf("rolling restart: %d connections, %d failed %s%n", ok.get(), failures.size(), failures);
            assertThat(failures)
                    .as("new connections that failed during the rolling restart")
                    .isEmpty();
            assertThat(ok.get()).isGreaterThan(100);
            // Three nodes appended every connection's record to the same chains: each is still one chain.
            for (String key : List.of(c.acmeKey(), c.platformKey())) {
                JsonNode verified = c.api().get(key, "/v1/audit-events/verify");
                assertThat(verified.get("valid").asBoolean())
                        .as("audit chain %s", verified)
                        .isTrue();
                assertThat(verified.get("records").asLong()).isPositive();
            }
        }
    }

    /**
     * Opens new connections through {@code front} until 20 in a row echo (within a minute);
     * returns how long after {@code killed} (nanoTime) the first of that run began.
     */
    private static long newConnectionsSucceedAgain(InetSocketAddress front, long killed) {
        long firstOfRun = 0;
        int inARow = 0;
        long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
        while (inARow < 20 && System.nanoTime() < deadline) {
            long t = System.nanoTime();
            if (GatewayCluster.echoesOnce(front)) {
                if (inARow++ == 0) {
                    firstOfRun = t;
                }
            } else {
                inARow = 0;
            }
        }
        assertThat(inARow)
                .as("20 new connections in a row through %s after the loss", front)
                .isEqualTo(20);
        return TimeUnit.NANOSECONDS.toMillis(firstOfRun - killed);
    }

    /** Waits until one exchange through {@code address} echoes (the nodes know their agents). */
    private static void awaitEchoes(InetSocketAddress address) throws Exception {
        GatewayCluster.await("an echo through " + address, () -> GatewayCluster.echoesOnce(address));
    }
}
