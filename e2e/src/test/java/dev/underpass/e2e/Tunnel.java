package dev.underpass.e2e;

import dev.underpass.gateway.AgentTokens;
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
import java.util.regex.Matcher;

/**
 * The end-to-end harness: a real gateway process and a real agent process on loopback, with
 * one endpoint service per named target. Account {@code acme} publishes (its agent reaches the
 * targets); account {@code platform} holds the endpoints. {@link #close()} stops every process
 * it started.
 */
final class Tunnel implements AutoCloseable {
    static final Duration WAIT = UnderpassProcess.DEFAULT_WAIT;

    private final Path dir;
    private final Map<String, String> services;
    private final List<String> agentTargets;
    private final Path tokenFile;
    private final String tokenSha256;
    private final List<UnderpassProcess> processes = new ArrayList<>();
    private final Map<String, Integer> endpointPorts = new LinkedHashMap<>();
    private UnderpassProcess gateway;
    private UnderpassProcess agent;
    private int agentPort;
    private int gatewayStarts;
    private int agentStarts;

    private Tunnel(Path dir, Map<String, String> services, List<String> agentTargets) throws IOException {
        this.dir = dir;
        this.services = services;
        this.agentTargets = agentTargets;
        String token = AgentTokens.generate();
        this.tokenFile = dir.resolve("agent-token");
        Files.writeString(tokenFile, token + "\n");
        this.tokenSha256 = AgentTokens.sha256Hex(token);
    }

    /** A gateway and an agent serving {@code services} (name to target host:port). */
    static Tunnel start(Path dir, Map<String, String> services) throws Exception {
        return start(dir, services, List.copyOf(services.values()));
    }

    /** As {@link #start(Path, Map)}, with the agent allowing only {@code agentTargets}. */
    static Tunnel start(Path dir, Map<String, String> services, List<String> agentTargets) throws Exception {
        Tunnel t = new Tunnel(dir, services, agentTargets);
        try {
            t.startGateway();
            t.startAgent();
        } catch (Exception | AssertionError e) {
            t.close();
            throw e;
        }
        return t;
    }

    void startGateway() throws Exception {
        StringBuilder y = new StringBuilder();
        y.append("agentListen: 127.0.0.1:").append(agentPort).append('\n');
        int base = 20000 + ThreadLocalRandom.current().nextInt(30) * 1000;
        y.append("endpointPorts: ").append(base).append('-').append(base + 999).append('\n');
        y.append("heartbeatTimeoutSeconds: 6\n");
        y.append("dialTimeoutSeconds: 5\n");
        y.append("accounts:\n  - name: acme\n    agentTokens:\n      - name: acme-agent\n        sha256: ")
                .append(tokenSha256).append("\n  - name: platform\n");
        y.append("services:\n");
        services.forEach((name, target) -> y.append("  - name: ").append(name).append("\n    account: acme\n")
                .append("    listeners:\n      - port: 1\n        targets: [\"").append(target).append("\"]\n"));
        y.append("endpoints:\n");
        services.keySet().forEach(name -> {
            y.append("  - name: ").append(name).append("\n    account: platform\n    service: ").append(name).append('\n');
            Integer pinned = endpointPorts.get(name);
            if (pinned != null) {
                y.append("    ports: {1: ").append(pinned).append("}\n");
            }
        });
        Path config = dir.resolve("gateway.yaml");
        Files.writeString(config, y);
        gateway = track(UnderpassProcess.start("gateway-" + ++gatewayStarts, dir, Map.of(),
                "gateway", "--config", config.toString(), "--data-dir", dir.resolve("gateway-data").toString()));
        Matcher m = gateway.awaitLog("agent port listening on .*:(\\d+) ", WAIT);
        agentPort = Integer.parseInt(m.group(1));
        for (String name : services.keySet()) {
            Matcher e = gateway.awaitLog("endpoint " + name + " .* listening on .*:(\\d+) ->", WAIT);
            endpointPorts.put(name, Integer.parseInt(e.group(1)));
        }
        gateway.awaitLog("gateway ready", WAIT);
    }

    /** Starts the agent with the harness's token, trusting the generated CA, and waits for its session. */
    void startAgent(String... extraArgs) throws Exception {
        List<String> args = new ArrayList<>(List.of("agent", "--gateway", "localhost:" + agentPort,
                "--token-file", tokenFile.toString(), "--ca-file", caFile().toString(), "--name", "test-agent"));
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

    int agentPort() {
        return agentPort;
    }

    Path caFile() {
        return dir.resolve("gateway-data").resolve("tls").resolve("ca.pem");
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
