package dev.underpass.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.UnderpassProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The end-to-end harness: a real gateway process and a real agent process on loopback, set up
 * through the gateway's REST API as an operator would: account {@code acme} publishes one
 * endpoint service per named target (its agent reaches the targets), account {@code platform}
 * creates an endpoint for each, and acme accepts them. {@link #close()} stops every process it
 * started.
 */
final class Tunnel implements AutoCloseable {
    static final Duration WAIT = UnderpassProcess.DEFAULT_WAIT;

    private final Path dir;
    private final Map<String, String> services;
    private final List<String> agentTargets;
    /** More of the gateway's YAML configuration, appended to the harness's own. */
    private final String gatewayYaml;

    private final Path tokenFile;
    private final List<UnderpassProcess> processes = new ArrayList<>();
    private final Map<String, String> endpointIds = new LinkedHashMap<>();
    private final Map<String, Integer> endpointPorts = new LinkedHashMap<>();
    private UnderpassProcess gateway;
    private UnderpassProcess agent;
    private Api api;
    private String acmeKey;
    private String platformKey;
    private int agentPort;
    private int apiPort;
    private int proxyPort;
    private int sniPort;
    private int dnsPort;
    private int gatewayStarts;
    private int agentStarts;

    private Tunnel(Path dir, Map<String, String> services, List<String> agentTargets, String gatewayYaml) {
        this.gatewayYaml = gatewayYaml;
        this.dir = dir;
        this.services = services;
        this.agentTargets = agentTargets;
        this.tokenFile = dir.resolve("agent-token");
    }

    /** A gateway and an agent serving {@code services} (name to target host:port). */
    static Tunnel start(Path dir, Map<String, String> services) throws Exception {
        return start(dir, services, List.copyOf(services.values()));
    }

    /** As {@link #start(Path, Map)}, with the agent allowing only {@code agentTargets}. */
    static Tunnel start(Path dir, Map<String, String> services, List<String> agentTargets) throws Exception {
        return start(dir, services, agentTargets, "");
    }

    /** As {@link #start(Path, Map, List)}, with {@code gatewayYaml} added to the gateway's configuration. */
    static Tunnel start(Path dir, Map<String, String> services, List<String> agentTargets, String gatewayYaml)
            throws Exception {
        Tunnel t = new Tunnel(dir, services, agentTargets, gatewayYaml);
        try {
            t.startGateway();
            t.setUp();
            t.startAgent();
        } catch (Exception | AssertionError e) {
            t.close();
            throw e;
        }
        return t;
    }

    /**
     * A gateway with the accounts and the agent token set up, but no service and no agent: the
     * test publishes its own services ({@link #publish}) and starts its own agents.
     */
    static Tunnel startWithoutAgent(Path dir) throws Exception {
        Tunnel t = new Tunnel(dir, Map.of(), List.of(), "");
        try {
            t.startGateway();
            t.setUp();
        } catch (Exception | AssertionError e) {
            t.close();
            throw e;
        }
        return t;
    }

    /**
     * Publishes service {@code name} of acme with {@code listeners} (as the REST API takes them,
     * e.g. with a {@code healthCheck}), allowed to platform, whose endpoint acme accepts; returns
     * the gateway port of the endpoint's first listener. A restarted gateway waits for it too.
     */
    int publish(String name, List<Map<String, Object>> listeners) throws Exception {
        api.post(
                acmeKey,
                "/v1/services",
                Map.of("name", name, "allowedPrincipals", List.of("platform"), "listeners", listeners));
        String id = api.post(platformKey, "/v1/endpoints", Map.of("service", "acme/" + name))
                .get("id")
                .asText();
        api.post(acmeKey, "/v1/endpoints/" + id + "/accept", Map.of());
        endpointIds.put(name, id);
        int port = awaitAvailable(id);
        endpointPorts.put(name, port);
        return port;
    }

    /** The REST API as acme, the provider account: for its services' health, for instance. */
    JsonNode getAsProvider(String path) throws Exception {
        return api.get(acmeKey, path);
    }

    /** Starts the gateway process, on the same agent and API ports when it ran before. */
    void startGateway() throws Exception {
        // Below Linux's ephemeral ports (32768-60999): a client that keeps connecting to a free port in
        // that range can be given the same port as its own and connect to itself, holding the port, so
        // that a restarted gateway cannot bind its endpoint's recorded port again.
        int base = 20000 + ThreadLocalRandom.current().nextInt(12) * 1000;
        String y = "agentListen: 127.0.0.1:" + agentPort + "\n"
                + "apiListen: 127.0.0.1:" + apiPort + "\n"
                + "proxyListen: 127.0.0.1:" + proxyPort + "\n"
                + "sniListen: 127.0.0.1:" + sniPort + "\n"
                + "dnsListen: 127.0.0.1:" + dnsPort + "\n"
                + "metricsListen: 127.0.0.1:0\n"
                + "endpointPorts: " + base + "-" + (base + 999) + "\n"
                + "heartbeatTimeoutSeconds: 6\n"
                + "dialTimeoutSeconds: 5\n"
                + gatewayYaml;
        Path config = dir.resolve("gateway.yaml");
        Files.writeString(config, y);
        gateway = track(UnderpassProcess.start(
                "gateway-" + ++gatewayStarts,
                dir,
                Map.of(),
                "gateway",
                "--config",
                config.toString(),
                "--data-dir",
                dataDir().toString()));
        apiPort = Integer.parseInt(
                gateway.awaitLog("api listening on .*:(\\d+) ", WAIT).group(1));
        proxyPort = Integer.parseInt(
                gateway.awaitLog("forward proxy listening on .*:(\\d+) ", WAIT).group(1));
        sniPort = Integer.parseInt(gateway.awaitLog("TLS listener routing by server name on .*:(\\d+) ", WAIT)
                .group(1));
        dnsPort = Integer.parseInt(
                gateway.awaitLog("private DNS listening on .*:(\\d+) ", WAIT).group(1));
        agentPort = Integer.parseInt(
                gateway.awaitLog("agent port listening on .*:(\\d+) ", WAIT).group(1));
        gateway.awaitLog("gateway ready", WAIT);
        api = new Api(apiPort, caFile());
        for (Map.Entry<String, String> e : endpointIds.entrySet()) {
            endpointPorts.put(e.getKey(), awaitAvailable(e.getValue()));
        }
    }

    /** The accounts, the agent token, a service and an accepted endpoint per target, through the API. */
    private void setUp() throws Exception {
        String operatorKey = Files.readString(dataDir().resolve("admin-key")).trim();
        acmeKey = api.post(operatorKey, "/v1/accounts", Map.of("name", "acme"))
                .at("/ownerKey/key")
                .asText();
        platformKey = api.post(operatorKey, "/v1/accounts", Map.of("name", "platform"))
                .at("/ownerKey/key")
                .asText();
        String token = api.post(acmeKey, "/v1/agent-tokens", Map.of("name", "acme-agent"))
                .get("token")
                .asText();
        Files.writeString(tokenFile, token + "\n");
        for (Map.Entry<String, String> s : services.entrySet()) {
            api.post(
                    acmeKey,
                    "/v1/services",
                    Map.of(
                            "name",
                            s.getKey(),
                            "allowedPrincipals",
                            List.of("platform"),
                            "listeners",
                            List.of(Map.of("port", servicePort(s.getKey()), "targets", List.of(s.getValue())))));
            String id = api.post(platformKey, "/v1/endpoints", Map.of("service", "acme/" + s.getKey()))
                    .get("id")
                    .asText();
            api.post(acmeKey, "/v1/endpoints/" + id + "/accept", Map.of());
            endpointIds.put(s.getKey(), id);
            endpointPorts.put(s.getKey(), awaitAvailable(id));
        }
    }

    /** Each service listens on port 1, except those named {@code tls-...}: port 443, for the TLS listener. */
    static int servicePort(String service) {
        return service.startsWith("tls-") ? 443 : 1;
    }

    /** Waits until endpoint {@code id} is available and returns its gateway port. */
    private int awaitAvailable(String id) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        JsonNode e = null;
        while (System.nanoTime() < deadline) {
            e = api.get(platformKey, "/v1/endpoints/" + id);
            if ("available".equals(e.get("state").asText())) {
                return e.at("/ports/0/gatewayPort").asInt();
            }
            Thread.sleep(100);
        }
        throw new AssertionError("endpoint " + id + " not available within " + WAIT.toSeconds() + "s: " + e);
    }

    /** Starts the agent with the harness's token, trusting the generated CA, and waits for its session. */
    void startAgent(String... extraArgs) throws Exception {
        List<String> args = new ArrayList<>(List.of(
                "agent",
                "--gateway",
                "localhost:" + agentPort,
                "--token-file",
                tokenFile.toString(),
                "--ca-file",
                caFile().toString(),
                "--name",
                "test-agent"));
        agentTargets.forEach(t -> {
            args.add("--target");
            args.add(t);
        });
        args.addAll(List.of(extraArgs));
        int before = countLog(gateway, "advertised");
        agent = startAgentProcess(args);
        gateway.awaitLog("advertised", before + 1, WAIT);
    }

    /** Starts an agent process with exactly {@code args} (after {@code agent}); does not wait. */
    UnderpassProcess startAgentProcess(List<String> args) throws IOException {
        return track(UnderpassProcess.start("agent-" + ++agentStarts, dir, Map.of(), args.toArray(String[]::new)));
    }

    private UnderpassProcess track(UnderpassProcess p) {
        processes.add(p);
        return p;
    }

    static int countLog(UnderpassProcess p, String text) {
        return (int) p.output().lines().filter(l -> l.contains(text)).count();
    }

    /** Stops the gateway (SIGTERM) and starts it again on the same agent and endpoint ports. */
    void restartGateway() throws Exception {
        gateway.close();
        startGateway();
    }

    int endpointPort(String service) {
        return endpointPorts.get(service);
    }

    /** The generated DNS name of the endpoint for {@code service}, as consumers give it to the forward proxy. */
    String endpointDnsName(String service) throws Exception {
        return api.get(platformKey, "/v1/endpoints/" + endpointIds.get(service))
                .at("/dnsNames/0")
                .asText();
    }

    int proxyPort() {
        return proxyPort;
    }

    /** The gateway's REST API, with whichever key a call names. */
    Api api() {
        return api;
    }

    int apiPort() {
        return apiPort;
    }

    int sniPort() {
        return sniPort;
    }

    int dnsPort() {
        return dnsPort;
    }

    /** An API key of the consumer account, {@code platform}. */
    String platformKey() {
        return platformKey;
    }

    /** An API key of the provider account, {@code acme}, which has no endpoints of its own. */
    String acmeKey() {
        return acmeKey;
    }

    /** The id of the endpoint for {@code service}, as connection log lines name it. */
    String endpointId(String service) {
        return endpointIds.get(service);
    }

    Path dataDir() {
        return dir.resolve("gateway-data");
    }

    int agentPort() {
        return agentPort;
    }

    Path caFile() {
        return dataDir().resolve("tls").resolve("ca.pem");
    }

    Path tokenFile() {
        return tokenFile;
    }

    UnderpassProcess gateway() {
        return gateway;
    }

    UnderpassProcess agent() {
        return agent;
    }

    Path dir() {
        return dir;
    }

    @Override
    public void close() throws InterruptedException {
        for (UnderpassProcess p : processes.reversed()) {
            p.close();
        }
    }
}
