package dev.underpass.controlplane.cluster;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.Databases;
import dev.underpass.controlplane.Db;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The nodes of a cluster in the shared store: heartbeats register and refresh them, states follow
 * the database's clock, only the operator lists them; several nodes starting at once on one empty
 * PostgreSQL bootstrap it once.
 */
class NodesTest {
    @TempDir
    static Path dir;

    static Databases databases;

    @BeforeAll
    static void start() throws Exception {
        databases = Databases.start(dir);
    }

    @AfterAll
    static void stop() throws Exception {
        databases.close();
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void heartbeatsRegisterNodesAndAStaleOneIsGone(Db db) {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            Nodes nodes = f.cp.nodes();
            List<Nodes.Node> seen = nodes.beat(beat("node-a", false, 2));
            assertThat(seen).extracting(Nodes.Node::id).containsExactly("node-a");
            seen = nodes.beat(beat("node-b", true, 0));
            assertThat(seen)
                    .extracting(Nodes.Node::id, Nodes.Node::state, Nodes.Node::sessions)
                    .containsExactly(
                            org.assertj.core.groups.Tuple.tuple("node-a", Nodes.Node.LIVE, 2),
                            org.assertj.core.groups.Tuple.tuple("node-b", Nodes.Node.DRAINING, 0));
            assertThat(seen.getFirst().serving()).isEqualTo("{\"acme\":{}}");

            // A node whose last beat is older than the timeout, by the database's clock, is gone.
            f.store
                    .jdbi()
                    .useHandle(h -> h.createUpdate(
                                    "update gateway_nodes set heartbeat_at = heartbeat_at - interval '60' second where id = 'node-a'")
                            .execute());
            seen = nodes.beat(beat("node-b", false, 1));
            assertThat(seen)
                    .extracting(Nodes.Node::id, Nodes.Node::state)
                    .containsExactly(
                            org.assertj.core.groups.Tuple.tuple("node-a", Nodes.Node.GONE),
                            org.assertj.core.groups.Tuple.tuple("node-b", Nodes.Node.LIVE));
            assertThat(seen.getFirst().secondsSinceHeartbeat()).isGreaterThanOrEqualTo(59);

            // The operator lists them, without what their agents serve; a tenant may not.
            assertThat(nodes.list(f.operator).items())
                    .extracting(Nodes.Node::id, Nodes.Node::serving)
                    .containsExactly(
                            org.assertj.core.groups.Tuple.tuple("node-a", null),
                            org.assertj.core.groups.Tuple.tuple("node-b", null));
            var acme = f.as(f.account("acme"));
            try {
                nodes.list(acme);
                throw new AssertionError("a tenant listed the nodes");
            } catch (Refused e) {
                assertThat(status(e)).isEqualTo(403);
            }

            // A second live node with node-b's id (a copied data directory) is refused; node-b itself is not.
            nodes.checkUnique("node-b", "10.0.0.1:8443");
            try {
                nodes.checkUnique("node-b", "10.0.0.2:8443");
                throw new AssertionError("a second node took node-b's id");
            } catch (IllegalStateException e) {
                assertThat(e.getMessage()).contains("node id node-b is already used by a live node at 10.0.0.1:8443");
            }
            nodes.checkUnique("node-a", "10.0.0.2:8443"); // gone: its id may be taken over

            nodes.leave("node-b");
            assertThat(nodes.list(f.operator).items())
                    .extracting(Nodes.Node::id)
                    .containsExactly("node-a");
        }
    }

    @Test
    void severalNodesStartingAtOnceOnAnEmptyPostgresBootstrapItOnce() throws Exception {
        StoreConfig config = databases.fresh(Db.POSTGRES);
        int nodes = 4;
        ExecutorService pool = Executors.newFixedThreadPool(nodes);
        try {
            List<Future<Boolean>> starts = new ArrayList<>();
            for (int i = 0; i < nodes; i++) {
                starts.add(pool.submit((Callable<Boolean>) () -> {
                    try (Store store = Store.open(config)) {
                        ControlPlane cp = new ControlPlane(store, ControlPlaneFixture.SETTINGS);
                        return cp.accounts().bootstrap().isPresent();
                    }
                }));
            }
            int bootstrapped = 0;
            for (Future<Boolean> s : starts) {
                bootstrapped += s.get(2, TimeUnit.MINUTES) ? 1 : 0;
            }
            assertThat(bootstrapped)
                    .as("nodes that created the operator account")
                    .isEqualTo(1);
        } finally {
            pool.shutdownNow();
        }
    }

    private static Nodes.Beat beat(String id, boolean draining, int sessions) {
        return new Nodes.Beat(id, "10.0.0.1:8443", "10.0.0.1:9443", "0.1.0", draining, sessions, "{\"acme\":{}}");
    }
}
