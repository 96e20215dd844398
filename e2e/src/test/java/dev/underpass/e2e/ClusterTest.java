package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.UnderpassProcess;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two gateway nodes on one real PostgreSQL form one gateway (docs/cluster.md): each node on its
 * own loopback address, with the same endpoint port; the agent keeps one link, to node B only. A
 * consumer on node A is carried through B, and so is a connection on the agent listener of an agent
 * linked to A only; a rejection made through A's API resets the live
 * connections on B within about a second (LISTEN/NOTIFY, not the periodic pass).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ClusterTest {
    static final Duration WAIT = UnderpassProcess.DEFAULT_WAIT;
    private static final int TRANSFERS = 20;
    private static final int LENGTH = 1024 * 1024;

    @TempDir
    Path dir;

    @Test
    void aConsumerOnOneNodeReachesAnAgentLinkedToAnotherAndARejectionOnOneResetsConnectionsOnTheOther()
            throws Exception {
        try (EchoServer echo = new EchoServer();
                GatewayCluster c = GatewayCluster.start(dir, 2, 0, "127.0.0.1:" + echo.port(), 0)) {
            GatewayCluster.Node a = c.nodes().get(0);
            GatewayCluster.Node b = c.nodes().get(1);
            assertThat(b.data.resolve("admin-key"))
                    .as("bootstrapped once, by the first node")
                    .doesNotExist();
            // Only B: A must carry its consumers through B.
            c.startAgent("agent", b.host + ":" + c.nodeAgentPort(), "127.0.0.1:" + echo.port(), "--links", "1");
            b.process.awaitLog("advertised", WAIT);

            JsonNode nodes = c.api().get(c.operatorKey(), "/v1/nodes");
            assertThat(nodes.get("items").findValuesAsText("state")).containsExactly("live", "live");
            assertThat(nodes.get("items").findValuesAsText("id")).containsExactlyInAnyOrder("node-a", "node-b");
            Cli cli = new Cli(dir, "operator");
            cli.run(
                            "login",
                            "--gateway",
                            "https://" + b.host + ":" + c.nodeApiPort(),
                            "--ca-file",
                            c.caFile().toString(),
                            "--key-file",
                            a.data.resolve("admin-key").toString())
                    .ok("login");
            String table = cli.run("gateway", "nodes").ok("gateway nodes").out();
            assertThat(table).contains("node-a", "node-b", a.host + ":" + c.nodeAgentPort(), "live");

            // Node A learns at B's next heartbeat that B's agent serves the endpoint.
            GatewayCluster.await("an echo through node A", () -> GatewayCluster.echoesOnce(a.endpoint()));
            // Node A's diagnosis (what `underpass test` shows) counts the session on node B.
            JsonNode diagnosis = c.api().get(c.platformKey(), "/v1/endpoints/" + c.endpointId() + "/diagnosis");
            assertThat(diagnosis.at("/ports/0/agentSessions").asInt())
                    .as("%s", diagnosis)
                    .isEqualTo(1);
            ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
            try {
                List<Future<Boolean>> transfers = new ArrayList<>();
                for (int i = 0; i < TRANSFERS; i++) {
                    InetSocketAddress to = (i % 2 == 0 ? a : b).endpoint();
                    int seed = i;
                    transfers.add(pool.submit(() -> echoes(to, seed)));
                }
                for (Future<Boolean> f : transfers) {
                    assertThat(f.get(2, TimeUnit.MINUTES))
                            .as("every byte back, in order")
                            .isTrue();
                }
            } finally {
                pool.shutdownNow();
            }
            assertThat(a.process.output()).contains("link to node node-b");

            // The other direction (agent listeners): platform's own agent, linked to node A only,
            // listens for platform's endpoint; its clients reach acme's agent on node B through A.
            String token = c.api()
                    .post(c.platformKey(), "/v1/agent-tokens", Map.of("name", "platform-agent"))
                    .get("token")
                    .asText();
            Path platformToken = dir.resolve("platform-agent-token");
            java.nio.file.Files.writeString(platformToken, token + "\n");
            int listenPort = ServerProcess.freePort();
            UnderpassProcess platformAgent = c.startAgentWith(
                    "platform-agent",
                    platformToken,
                    a.host + ":" + c.nodeAgentPort(),
                    "--links",
                    "1",
                    "--listen",
                    "127.0.0.1:" + listenPort + " -> " + c.endpointId() + ":" + GatewayCluster.SERVICE_PORT);
            platformAgent.awaitLog(java.util.regex.Pattern.quote("listening on /127.0.0.1:" + listenPort), WAIT);
            assertThat(AgentListenerTest.echoes(new InetSocketAddress("127.0.0.1", listenPort), 99))
                    .as("an agent listener's connection on node A carried by the agent on node B")
                    .isTrue();
            // Node B's API lists the listener of the agent linked to node A, as of A's next heartbeat.
            Api apiOfB = new Api(b.host, c.nodeApiPort(), c.caFile());
            String listing = "/v1/endpoints/" + c.endpointId() + "/agent-listeners";
            GatewayCluster.await(
                    "node B lists the agent listener hosted through node A",
                    () -> apiOfB.get(c.platformKey(), listing).path("items").size() == 1);
            JsonNode hosted = apiOfB.get(c.platformKey(), listing).path("items").get(0);
            assertThat(hosted.path("node").asText()).as("%s", hosted).isEqualTo("node-a");
            assertThat(hosted.path("agent").asText()).isEqualTo("platform-agent");
            assertThat(hosted.path("address").asText()).isEqualTo("127.0.0.1:" + listenPort);
            assertThat(hosted.path("open").asBoolean()).isTrue();
            assertThat(c.api()
                            .get(c.platformKey(), listing)
                            .path("items")
                            .get(0)
                            .path("node")
                            .asText())
                    .as("node A lists it as its own")
                    .isEqualTo("node-a");

            // A live connection through B, then the provider rejects the endpoint through A's API.
            try (Socket live = new Socket(b.host, b.endpoint().getPort())) {
                live.setSoTimeout((int) WAIT.toMillis());
                live.getOutputStream().write(1);
                assertThat(live.getInputStream().read()).isEqualTo(1);
                long rejected = System.nanoTime();
                c.api().post(c.acmeKey(), "/v1/endpoints/" + c.endpointId() + "/reject", Map.of());
                int read;
                try {
                    read = live.getInputStream().read();
                } catch (IOException reset) {
                    read = -2;
                }
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - rejected);
                assertThat(read)
                        .as("the live connection on the other node is reset, not ended")
                        .isEqualTo(-2);
                System.out.printf("rejected on node A, connection on node B reset after %d ms%n", millis);
                assertThat(millis)
                        .as("reset through the change feed, not the 5 s pass")
                        .isLessThan(3000);
            }
        }
    }

    /** Sends {@link #LENGTH} random bytes, half-closes, and compares the SHA-256 of what comes back. */
    private static boolean echoes(InetSocketAddress address, int seed) throws Exception {
        byte[] data = new byte[LENGTH];
        new Random(seed).nextBytes(data);
        try (Socket s = new Socket()) {
            s.connect(address, 10_000);
            s.setSoTimeout(60_000);
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    out.write(data);
                    s.shutdownOutput();
                } catch (IOException ignored) {
                    // the reader sees the failure
                }
            });
            InputStream in = s.getInputStream();
            byte[] back = in.readAllBytes();
            writer.join();
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            return MessageDigest.isEqual(sha.digest(back), sha.digest(data));
        }
    }
}
