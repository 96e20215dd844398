package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.UnderpassProcess;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bidirectional (issue 16): the consumer account's own agent hosts listeners for its endpoints.
 * In the harness, acme publishes {@code echo} and {@code pg} (a real PostgreSQL) behind acme's
 * agent; platform's endpoints to them are accepted. Platform's agent, with no target at all, lists
 * two agent listeners in its flags; platform's clients connect to those local addresses and reach
 * acme's services over the agents' outbound links only: exact bytes both ways with half-close, a
 * real JDBC query, both accounts' audit records, another account's agent kept from listening for
 * platform's endpoint, and the provider's rejection closing the listener and resetting its live
 * connection; kill -9 of either agent mid-transfer resets the clients' connections, never ends
 * them short.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AgentListenerTest {
    private static final int LENGTH = 4 * 1024 * 1024;

    @TempDir
    Path dir;

    @Test
    void anAgentListenerCarriesClientsToAnotherAccountsServiceAndClosesWhenRejected() throws Exception {
        try (EchoServer echo = new EchoServer();
                EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
                Tunnel t = Tunnel.start(
                        dir, Map.of("echo", "127.0.0.1:" + echo.port(), "pg", "127.0.0.1:" + pg.getPort()))) {
            int echoPort = ServerProcess.freePort();
            int pgPort = ServerProcess.freePort();
            String echoEndpoint = t.endpointId("echo");
            // One listener names its endpoint by id, the other by the service it connects to.
            UnderpassProcess agent = startListeningAgent(t, Map.of(echoPort, echoEndpoint, pgPort, "acme/pg"));
            InetSocketAddress listener = new InetSocketAddress("127.0.0.1", echoPort);

            // The consumer sees which of its agents listen for the endpoint, by API and CLI; the provider does not.
            JsonNode hosted = t.api().get(t.platformKey(), "/v1/endpoints/" + echoEndpoint + "/agent-listeners");
            assertThat(hosted.at("/items/0/agent").asText()).isEqualTo("platform-agent");
            assertThat(hosted.at("/items/0/address").asText()).isEqualTo("127.0.0.1:" + echoPort);
            assertThat(hosted.at("/items/0/open").asBoolean()).as("%s", hosted).isTrue();
            assertThatThrownBy(() -> t.api().get(t.acmeKey(), "/v1/endpoints/" + echoEndpoint + "/agent-listeners"))
                    .hasMessageContaining("answered 404");
            Cli cli = new Cli(dir, "platform");
            Path keyFile = dir.resolve("platform-key");
            Files.writeString(keyFile, t.platformKey() + "\n");
            cli.run(
                            "login",
                            "--gateway",
                            "https://localhost:" + t.apiPort(),
                            "--ca-file",
                            t.caFile().toString(),
                            "--key-file",
                            keyFile.toString())
                    .ok("login");
            assertThat(cli.run("endpoint", "show", echoEndpoint)
                            .ok("endpoint show")
                            .out())
                    .contains("agent listeners:", "platform-agent", "127.0.0.1:" + echoPort, "open");
            // The per-hop test from the customer's side, through the agent listener.
            String hops = cli.run("test", echoEndpoint, "--via-listener", "127.0.0.1:" + echoPort)
                    .ok("test --via-listener")
                    .out();
            assertThat(hops)
                    .containsPattern("agent listener\\s+pass\\s+agent platform-agent")
                    .containsPattern("tcp\\s+pass\\s+connected to 127\\.0\\.0\\.1:" + echoPort);
            Cli.Result unlisted = cli.run("test", echoEndpoint, "--via-listener", "127.0.0.1:1");
            assertThat(unlisted.exitCode()).isEqualTo(1);
            assertThat(unlisted.out()).containsPattern("agent listener\\s+FAIL\\s+no agent of this account");

            // Exact bytes both ways, each connection ended by the client's half-close.
            for (int i = 0; i < 4; i++) {
                assertThat(echoes(listener, i))
                        .as("transfer %d echoed exactly", i)
                        .isTrue();
            }

            // A real database protocol through the listener.
            String url = "jdbc:postgresql://127.0.0.1:" + pgPort + "/postgres?sslmode=disable";
            try (Connection db = DriverManager.getConnection(url, "postgres", "postgres");
                    ResultSet r = db.createStatement().executeQuery("select 6 * 7, current_database()")) {
                assertThat(r.next()).isTrue();
                assertThat(r.getInt(1)).isEqualTo(42);
                assertThat(r.getString(2)).isEqualTo("postgres");
            }

            // Both accounts' audit logs hold the connections, as consumer connections through the agent listener.
            GatewayCluster.await("audit records in both accounts", () -> {
                String consumer = t.api()
                        .get(t.platformKey(), "/v1/audit-events?limit=500")
                        .toString();
                String provider =
                        t.api().get(t.acmeKey(), "/v1/audit-events?limit=500").toString();
                return consumer.contains("agent listener")
                        && consumer.contains("platform-agent")
                        && provider.contains(echoEndpoint);
            });

            // Another account's agent may list platform's endpoint in its file: the gateway keeps that
            // listener closed, in words that do not say whether the endpoint exists.
            int foreignPort = ServerProcess.freePort();
            t.startAgentProcess(List.of(
                    "agent",
                    "--gateway",
                    "localhost:" + t.agentPort(),
                    "--token-file",
                    t.tokenFile().toString(),
                    "--ca-file",
                    t.caFile().toString(),
                    "--name",
                    "acme-listener",
                    "--listen",
                    "127.0.0.1:" + foreignPort + " -> " + echoEndpoint + ":1"));
            t.gateway()
                    .awaitLog(
                            Pattern.quote(echoEndpoint + ":1 closed (endpoint " + echoEndpoint
                                    + " of account acme has no available"),
                            Tunnel.WAIT);
            assertThat(refused(new InetSocketAddress("127.0.0.1", foreignPort)))
                    .as("another account's agent does not listen for platform's endpoint")
                    .isTrue();

            // The provider rejects the endpoint: the live connection is reset, the listener closes.
            try (Socket live = new Socket()) {
                live.connect(listener, 10_000);
                live.setSoTimeout((int) Tunnel.WAIT.toMillis());
                live.getOutputStream().write(7);
                assertThat(live.getInputStream().read()).isEqualTo(7);
                long rejected = System.nanoTime();
                t.api().post(t.acmeKey(), "/v1/endpoints/" + echoEndpoint + "/reject", Map.of());
                int read;
                try {
                    read = live.getInputStream().read();
                } catch (IOException reset) {
                    read = -2;
                }
                assertThat(read).as("the live connection is reset, not ended").isEqualTo(-2);
                System.out.printf(
                        "rejected: agent listener connection reset after %d ms%n",
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - rejected));
            }
            agent.awaitLog(
                    Pattern.quote("agent listener 127.0.0.1:" + echoPort + " -> " + echoEndpoint + ":1 closed"),
                    Tunnel.WAIT);
            assertThat(refused(listener))
                    .as("nothing listens once the endpoint is rejected")
                    .isTrue();
            // The other listener is untouched.
            try (Connection db = DriverManager.getConnection(url, "postgres", "postgres")) {
                assertThat(db.isValid(10)).isTrue();
            }
        }
    }

    @Test
    void killingEitherAgentMidTransferResetsTheClientsConnectionsNeverEndsThemShort() throws Exception {
        try (EchoServer echo = new EchoServer();
                Tunnel t = Tunnel.start(dir, Map.of("echo", "127.0.0.1:" + echo.port()))) {
            int listenPort = ServerProcess.freePort();
            UnderpassProcess platformAgent = startListeningAgent(t, Map.of(listenPort, t.endpointId("echo")));
            InetSocketAddress listener = new InetSocketAddress("127.0.0.1", listenPort);
            assertThat(echoes(listener, 1)).isTrue();

            // kill -9 of the provider's agent, then of the consumer's own agent, each mid-transfer.
            Map<PacedEcho.Outcome, Integer> providerKilled = killMidTransfer(listener, t.agent());
            System.out.printf("kill -9 of the provider's agent mid-transfer: %s%n", providerKilled);
            t.startAgent();
            GatewayCluster.await("echoes again once the provider's agent is back", () -> echoes(listener, 2));
            Map<PacedEcho.Outcome, Integer> consumerKilled = killMidTransfer(listener, platformAgent);
            System.out.printf("kill -9 of the consumer's agent mid-transfer: %s%n", consumerKilled);
            for (Map<PacedEcho.Outcome, Integer> o : List.of(providerKilled, consumerKilled)) {
                assertThat(o.getOrDefault(PacedEcho.Outcome.TRUNCATED, 0))
                        .as("%s", o)
                        .isZero();
                assertThat(o.getOrDefault(PacedEcho.Outcome.CORRUPTED, 0))
                        .as("%s", o)
                        .isZero();
                assertThat(o.getOrDefault(PacedEcho.Outcome.RESET, 0))
                        .as("%s", o)
                        .isPositive();
            }
        }
    }

    @Test
    void theAgentsForwardProxyCarriesClientsByNameToItsAccountsEndpointsOnly() throws Exception {
        try (EchoServer echo = new EchoServer();
                Tunnel t = Tunnel.start(dir, Map.of("echo", "127.0.0.1:" + echo.port()))) {
            int proxyPort = ServerProcess.freePort();
            UnderpassProcess agent = startListeningAgent(t, Map.of(proxyPort, ListenerKind.PROXY));
            try {
                proxiesByNameOnly(proxyPort, t.endpointDnsName("echo"));
            } catch (Exception | AssertionError e) {
                throw new AssertionError(
                        e + "\n--- agent:\n" + agent.output() + "\n--- gateway:\n"
                                + t.gateway().output(),
                        e);
            }
        }
    }

    /** Clients of the agent's proxy on {@code proxyPort} reach the endpoint named {@code name} (service port 1), and nothing else. */
    private static void proxiesByNameOnly(int proxyPort, String name) throws Exception {
        // HTTP CONNECT by the endpoint's DNS name and service port.
        try (Socket s = new Socket("127.0.0.1", proxyPort)) {
            s.setSoTimeout(30_000);
            s.getOutputStream()
                    .write(("CONNECT " + name + ":1 HTTP/1.1\r\nHost: " + name + ":1\r\n\r\n")
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String status = readLine(s.getInputStream());
            assertThat(status).startsWith("HTTP/1.1 200");
            assertThat(readLine(s.getInputStream())).isEmpty();
            s.getOutputStream().write("ping".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            s.shutdownOutput();
            assertThat(new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII))
                    .isEqualTo("ping");
        }

        // SOCKS5 with the name unresolved, as curl's socks5h:// and Java send it: exact bytes both ways.
        java.net.Proxy socks =
                new java.net.Proxy(java.net.Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.1", proxyPort));
        byte[] data = new byte[LENGTH];
        new Random(5).nextBytes(data);
        try (Socket s = new Socket(socks)) {
            s.connect(InetSocketAddress.createUnresolved(name, 1), 10_000);
            s.setSoTimeout(60_000);
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    s.getOutputStream().write(data);
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            byte[] back = s.getInputStream().readAllBytes();
            writer.join();
            assertThat(Arrays.equals(back, data))
                    .as("%d bytes back", back.length)
                    .isTrue();
        }

        // Anything else is refused in the client's own protocol: a public name, another method.
        try (Socket s = new Socket("127.0.0.1", proxyPort)) {
            s.setSoTimeout(30_000);
            s.getOutputStream()
                    .write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            assertThat(readLine(s.getInputStream())).startsWith("HTTP/1.1 403");
        }
        try (Socket s = new Socket("127.0.0.1", proxyPort)) {
            s.setSoTimeout(30_000);
            s.getOutputStream()
                    .write("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            assertThat(readLine(s.getInputStream())).startsWith("HTTP/1.1 405");
        }
        try (Socket s = new Socket(socks)) {
            assertThatThrownBy(() -> s.connect(InetSocketAddress.createUnresolved("example.com", 443), 10_000))
                    .isInstanceOf(IOException.class);
        }
    }

    /** Where a test agent's listener leads: a forward proxy rather than an endpoint. */
    enum ListenerKind {
        PROXY
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int c; (c = in.read()) >= 0 && c != '\n'; ) {
            if (c != '\r') {
                b.append((char) c);
            }
        }
        return b.toString();
    }

    /**
     * Starts platform's agent with a listener on each port, for the endpoint named (service port
     * 1) or as a forward proxy; waits until they listen.
     */
    private UnderpassProcess startListeningAgent(Tunnel t, Map<Integer, ?> endpoints) throws Exception {
        String token = t.api()
                .post(t.platformKey(), "/v1/agent-tokens", Map.of("name", "platform-agent"))
                .get("token")
                .asText();
        Path tokenFile = Files.createTempFile(dir, "platform-agent-token", "");
        Files.writeString(tokenFile, token + "\n");
        List<String> args = new ArrayList<>(List.of(
                "agent",
                "--gateway",
                "localhost:" + t.agentPort(),
                "--token-file",
                tokenFile.toString(),
                "--ca-file",
                t.caFile().toString(),
                "--name",
                "platform-agent"));
        endpoints.forEach((port, endpoint) -> args.addAll(List.of(
                "--listen",
                "127.0.0.1:" + port + " -> " + (endpoint == ListenerKind.PROXY ? "proxy" : endpoint + ":1"))));
        UnderpassProcess agent = t.startAgentProcess(args);
        agent.awaitLog("session \\d+ established", Tunnel.WAIT);
        for (int port : endpoints.keySet()) {
            agent.awaitLog(Pattern.quote("listening on /127.0.0.1:" + port), Tunnel.WAIT);
        }
        return agent;
    }

    /** Eight paced transfers through {@code listener}; {@code victim} is killed once all are under way. */
    private static Map<PacedEcho.Outcome, Integer> killMidTransfer(InetSocketAddress listener, UnderpassProcess victim)
            throws Exception {
        int transfers = 8;
        CountDownLatch underway = new CountDownLatch(transfers);
        Map<PacedEcho.Outcome, Integer> outcomes = new EnumMap<>(PacedEcho.Outcome.class);
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        try {
            List<Future<PacedEcho.Outcome>> running = new ArrayList<>();
            for (int i = 0; i < transfers; i++) {
                int seed = i;
                running.add(pool.submit(() -> PacedEcho.transfer(listener, seed, 1024 * 1024, underway)));
            }
            assertThat(underway.await(1, TimeUnit.MINUTES))
                    .as("every transfer under way")
                    .isTrue();
            victim.kill();
            for (Future<PacedEcho.Outcome> f : running) {
                outcomes.merge(f.get(2, TimeUnit.MINUTES), 1, Integer::sum);
            }
        } finally {
            pool.shutdownNow();
        }
        return outcomes;
    }

    /** Sends {@link #LENGTH} random bytes while reading, half-closes, and compares the SHA-256 of what came back. */
    static boolean echoes(InetSocketAddress address, int seed) throws Exception {
        byte[] data = new byte[LENGTH];
        new Random(seed).nextBytes(data);
        try (Socket s = new Socket()) {
            s.connect(address, 10_000);
            s.setSoTimeout(60_000);
            List<Throwable> failed = new ArrayList<>();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    out.write(data);
                    s.shutdownOutput();
                } catch (IOException e) {
                    failed.add(e);
                }
            });
            InputStream in = s.getInputStream();
            byte[] back = in.readAllBytes();
            writer.join();
            assertThat(failed).isEmpty();
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            return back.length == LENGTH && Arrays.equals(sha.digest(data), sha.digest(back));
        }
    }

    private static boolean refused(InetSocketAddress address) {
        try (Socket s = new Socket()) {
            s.connect(address, 5000);
            return false;
        } catch (IOException e) {
            return true;
        }
    }
}
