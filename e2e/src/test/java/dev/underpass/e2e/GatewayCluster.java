package dev.underpass.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.UnderpassProcess;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The cluster harness (docs/cluster.md): a real PostgreSQL, gateway nodes as real processes, each
 * on its own loopback address (127.0.0.2, .3, ...) with the same ports, haproxy in front of them
 * (the endpoint port for consumers and the agent port for agents, each server checked on its
 * {@code /readyz}), and agents that dial haproxy. Set up through the API as an operator would:
 * acme publishes {@code echo} (its agents reach the echo server), platform's endpoint to it is
 * accepted. A packet-level load balancer ({@link PacketBalancer}) can stand beside haproxy.
 * {@link #close()} stops every process it started, by its own handle.
 */
final class GatewayCluster implements AutoCloseable {
    static final Duration WAIT = UnderpassProcess.DEFAULT_WAIT;
    /** The port of acme's {@code echo} service. */
    static final int SERVICE_PORT = 7;

    /** One gateway node: its address, fixed ports (the same after a restart) and process. */
    final class Node {
        final String name;
        final String host;
        final Path data;
        final Path config;
        UnderpassProcess process;
        private int starts;

        Node(String name, String host) {
            this.name = name;
            this.host = host;
            this.data = dir.resolve("node-" + name);
            this.config = dir.resolve("node-" + name + ".yaml");
        }

        void start() throws Exception {
            process = UnderpassProcess.start(
                    "node-" + name + "-" + ++starts,
                    dir,
                    Map.of(),
                    "gateway",
                    "--config",
                    config.toString(),
                    "--data-dir",
                    data.toString());
            processes.add(process);
            process.awaitLog("gateway ready", WAIT);
        }

        /** Whether its /readyz answers 200 now. */
        boolean ready() {
            try {
                HttpResponse<Void> r = HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(URI.create("http://" + host + ":" + (base + 1) + "/readyz"))
                                        .timeout(Duration.ofSeconds(5))
                                        .build(),
                                HttpResponse.BodyHandlers.discarding());
                return r.statusCode() == 200;
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }

        InetSocketAddress endpoint() {
            return new InetSocketAddress(host, endpointPort);
        }
    }

    private final Path dir;
    private final List<AutoCloseable> processes = new ArrayList<>();
    private final List<Node> nodes = new ArrayList<>();
    /** Every node's ports: agent base, metrics +1, API +2, proxy +3, TLS listener +4, DNS +5, endpoints +10 to +99. */
    private final int base = 21000 + ThreadLocalRandom.current().nextInt(100) * 100;

    private EmbeddedPostgres pg;
    private PacketBalancer packetBalancer;
    private Api api;
    private String operatorKey;
    private String acmeKey;
    private String platformKey;
    private String endpointId;
    private int endpointPort;
    private final int consumerPort;
    private final int agentPort;

    private GatewayCluster(Path dir) throws IOException {
        this.dir = dir;
        this.consumerPort = ServerProcess.freePort();
        this.agentPort = ServerProcess.freePort();
    }

    /**
     * {@code count} nodes behind haproxy and {@code agents} agents serving {@code target}; each
     * node reports not ready for {@code notReadySeconds} before it stops accepting when it drains.
     */
    static GatewayCluster start(Path dir, int count, int agents, String target, int notReadySeconds) throws Exception {
        GatewayCluster c = new GatewayCluster(dir);
        try {
            c.pg = EmbeddedPostgres.builder().start();
            for (int i = 0; i < count; i++) {
                Node n = c.new Node(String.valueOf((char) ('a' + i)), "127.0.0." + (2 + i));
                c.nodes.add(n);
                c.configure(
                        n,
                        notReadySeconds,
                        i == 0 ? null : c.nodes.getFirst().data.resolve("tls"));
                n.start();
            }
            c.setUp(target);
            c.startHaproxy();
            for (int i = 0; i < agents; i++) {
                c.startAgent("agent-" + (i + 1), target);
            }
            if (agents > 0) {
                c.awaitSessions(agents * Math.min(2, count));
            }
        } catch (Exception | AssertionError e) {
            c.close();
            throw e;
        }
        return c;
    }

    private void configure(Node n, int notReadySeconds, Path sharedTls) throws IOException {
        if (sharedTls != null) {
            // The nodes share the first one's tls/ (docs/cluster.md); each re-issues its server certificate.
            Files.createDirectories(n.data.resolve("tls"));
            try (var files = Files.list(sharedTls)) {
                for (Path f : files.toList()) {
                    Files.copy(f, n.data.resolve("tls").resolve(f.getFileName()));
                }
            }
        }
        Files.writeString(
                n.config,
                "agentListen: " + n.host + ":" + base + "\n"
                        + "metricsListen: " + n.host + ":" + (base + 1) + "\n"
                        + "apiListen: " + n.host + ":" + (base + 2) + "\n"
                        + "proxyListen: " + n.host + ":" + (base + 3) + "\n"
                        + "sniListen: " + n.host + ":" + (base + 4) + "\n"
                        + "dnsListen: " + n.host + ":" + (base + 5) + "\n"
                        + "endpointBind: " + n.host + "\n"
                        + "endpointPorts: " + (base + 10) + "-" + (base + 99) + "\n"
                        + "serverNames: [" + n.host + ", 127.0.0.1]\n"
                        + "heartbeatTimeoutSeconds: 6\n"
                        + "dialTimeoutSeconds: 5\n"
                        + "drainNotReadySeconds: " + notReadySeconds + "\n"
                        + "cluster:\n  nodeId: node-" + n.name + "\n"
                        + "store:\n  url: " + pg.getJdbcUrl("postgres", "postgres") + "\n  user: postgres\n");
    }

    private void setUp(String target) throws Exception {
        Node first = nodes.getFirst();
        api = new Api(first.host, base + 2, caFile());
        operatorKey = Files.readString(first.data.resolve("admin-key")).trim();
        acmeKey = api.post(operatorKey, "/v1/accounts", Map.of("name", "acme"))
                .at("/ownerKey/key")
                .asText();
        platformKey = api.post(operatorKey, "/v1/accounts", Map.of("name", "platform"))
                .at("/ownerKey/key")
                .asText();
        String token = api.post(acmeKey, "/v1/agent-tokens", Map.of("name", "acme-agent"))
                .get("token")
                .asText();
        Files.writeString(dir.resolve("agent-token"), token + "\n");
        api.post(
                acmeKey,
                "/v1/services",
                Map.of(
                        "name",
                        "echo",
                        "allowedPrincipals",
                        List.of("platform"),
                        "listeners",
                        List.of(Map.of("port", SERVICE_PORT, "targets", List.of(target)))));
        endpointId = api.post(platformKey, "/v1/endpoints", Map.of("service", "acme/echo"))
                .get("id")
                .asText();
        api.post(acmeKey, "/v1/endpoints/" + endpointId + "/accept", Map.of());
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            JsonNode e = api.get(platformKey, "/v1/endpoints/" + endpointId);
            if ("available".equals(e.get("state").asText())) {
                endpointPort = e.at("/ports/0/gatewayPort").asInt();
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("endpoint " + endpointId + " not available within " + WAIT.toSeconds() + "s");
    }

    /** haproxy in TCP mode, as an operator runs it in front of the nodes (docs/cluster.md). */
    private void startHaproxy() throws Exception {
        StringBuilder cfg = new StringBuilder("""
                global
                    maxconn 4096
                defaults
                    mode tcp
                    timeout connect 5s
                    timeout client 120s
                    timeout server 120s
                    retries 1
                    option redispatch
                    default-server inter 500ms fall 2 rise 2
                frontend consumers
                    bind 127.0.0.1:%d
                    default_backend endpoint
                frontend agents
                    bind 127.0.0.1:%d
                    default_backend agent_ports
                backend endpoint
                    option httpchk GET /readyz
                """.formatted(consumerPort, agentPort));
        for (Node n : nodes) {
            cfg.append("    server ")
                    .append(n.name)
                    .append(' ')
                    .append(n.host)
                    .append(':')
                    .append(endpointPort)
                    .append(" check port ")
                    .append(base + 1)
                    .append('\n');
        }
        cfg.append("backend agent_ports\n    option httpchk GET /readyz\n");
        for (Node n : nodes) {
            cfg.append("    server ")
                    .append(n.name)
                    .append(' ')
                    .append(n.host)
                    .append(':')
                    .append(base)
                    .append(" check port ")
                    .append(base + 1)
                    .append('\n');
        }
        Path file = dir.resolve("haproxy.cfg");
        Files.writeString(file, cfg.toString());
        processes.add(ServerProcess.start("haproxy", dir, consumerPort, "haproxy", "-db", "-f", file.toString()));
    }

    /** Starts agent {@code name} serving {@code target}, dialling haproxy's agent frontend. */
    private void startAgent(String name, String target) throws Exception {
        startAgent(name, "127.0.0.1:" + agentPort, target);
    }

    /** Starts agent {@code name} with the token in {@code tokenFile}, dialling {@code gateway}, with {@code more} arguments. */
    UnderpassProcess startAgentWith(String name, Path tokenFile, String gateway, String... more) throws Exception {
        List<String> args = new ArrayList<>(List.of(
                "agent",
                "--gateway",
                gateway,
                "--token-file",
                tokenFile.toString(),
                "--ca-file",
                caFile().toString(),
                "--name",
                name));
        args.addAll(List.of(more));
        UnderpassProcess agent = UnderpassProcess.start(name, dir, Map.of(), args.toArray(String[]::new));
        processes.add(agent);
        return agent;
    }

    /** Starts agent {@code name} serving {@code target}, dialling {@code gateway}, with {@code more} arguments. */
    UnderpassProcess startAgent(String name, String gateway, String target, String... more) throws Exception {
        List<String> args = new ArrayList<>(List.of("--target", target));
        args.addAll(List.of(more));
        return startAgentWith(name, dir.resolve("agent-token"), gateway, args.toArray(String[]::new));
    }

    /**
     * Waits until the nodes report {@code sessions} agent sessions in all (at their heartbeats),
     * and then until every live node has beaten once more: each has read the others' rows since,
     * so every node knows which agents the others have.
     */
    void awaitSessions(int sessions) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        JsonNode n = null;
        java.time.Instant seen = null;
        while (System.nanoTime() < deadline) {
            n = api.get(operatorKey, "/v1/nodes");
            int sum = 0;
            java.time.Instant latest = java.time.Instant.MIN;
            java.time.Instant earliest = java.time.Instant.MAX;
            for (JsonNode node : n.get("items")) {
                if ("live".equals(node.get("state").asText())) {
                    sum += node.get("sessions").asInt();
                    java.time.Instant at =
                            java.time.Instant.parse(node.get("heartbeatAt").asText());
                    latest = at.isAfter(latest) ? at : latest;
                    earliest = at.isBefore(earliest) ? at : earliest;
                }
            }
            if (seen == null && sum >= sessions) {
                seen = latest;
            }
            if (seen != null && earliest.isAfter(seen)) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError(
                "not " + sessions + " agent sessions known to every node within " + WAIT.toSeconds() + "s: " + n);
    }

    List<Node> nodes() {
        return nodes;
    }

    /**
     * A packet-level load balancer for the endpoint on 127.0.0.1, in front of every node and
     * following their {@code /readyz} as haproxy does; started the first time it is asked for.
     */
    PacketBalancer packetBalancer() throws IOException {
        if (packetBalancer == null) {
            List<PacketBalancer.Backend> backends = new ArrayList<>();
            for (Node n : nodes) {
                backends.add(new PacketBalancer.Backend(n.host, n::ready));
            }
            packetBalancer = PacketBalancer.start(dir, endpointPort, backends);
            processes.add(packetBalancer);
        }
        return packetBalancer;
    }

    /** Where consumers connect: haproxy's frontend for the endpoint. */
    InetSocketAddress consumers() {
        return new InetSocketAddress("127.0.0.1", consumerPort);
    }

    Api api() {
        return api;
    }

    /** Every node's agent port (each on its own address). */
    int nodeAgentPort() {
        return base;
    }

    /** Every node's forward proxy port. */
    int nodeProxyPort() {
        return base + 3;
    }

    /** Every node's TLS listener port. */
    int nodeSniPort() {
        return base + 4;
    }

    /** Every node's private DNS port (UDP and TCP). */
    int nodeDnsPort() {
        return base + 5;
    }

    /** The generated DNS name of platform's endpoint to acme's {@code echo}. */
    String endpointDnsName() throws Exception {
        return api.get(platformKey, "/v1/endpoints/" + endpointId)
                .at("/dnsNames/0")
                .asText();
    }

    /** Every node's API port (each on its own address). */
    int nodeApiPort() {
        return base + 2;
    }

    String operatorKey() {
        return operatorKey;
    }

    String platformKey() {
        return platformKey;
    }

    String acmeKey() {
        return acmeKey;
    }

    String endpointId() {
        return endpointId;
    }

    Path caFile() {
        return nodes.getFirst().data.resolve("tls").resolve("ca.pem");
    }

    /** A condition the cluster reaches in time. */
    interface Condition {
        boolean holds() throws Exception;
    }

    /** Waits up to {@link #WAIT} for {@code condition}, checking every 200 ms. */
    static void await(String what, Condition condition) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.holds()) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("not within " + WAIT.toSeconds() + "s: " + what);
    }

    /** Why one short exchange through {@code address} does not echo, or null when it does. */
    static String echoFailure(InetSocketAddress address) {
        long t0 = System.nanoTime();
        try (Socket s = new Socket()) {
            s.connect(address, 5000);
            s.setSoTimeout(10_000);
            byte[] out = new byte[1024];
            ThreadLocalRandom.current().nextBytes(out);
            s.getOutputStream().write(out);
            s.shutdownOutput();
            byte[] back = s.getInputStream().readAllBytes();
            return java.util.Arrays.equals(out, back)
                    ? null
                    : "echo of " + back.length + " bytes, local port " + s.getLocalPort();
        } catch (IOException e) {
            return e + " after " + (System.nanoTime() - t0) / 1_000_000 + " ms";
        }
    }

    /** Whether one short exchange through {@code address} echoes. */
    static boolean echoesOnce(InetSocketAddress address) {
        return echoFailure(address) == null;
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable p : processes.reversed()) {
            p.close();
        }
        if (pg != null) {
            pg.close();
        }
    }
}
