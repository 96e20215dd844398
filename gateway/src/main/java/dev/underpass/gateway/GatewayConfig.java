package dev.underpass.gateway;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.underpass.protocol.HostAndPort;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The gateway's configuration file (YAML), immutable once loaded. {@link #validate()} returns
 * every problem with its field path, so an operator fixes them all in one go.
 */
public record GatewayConfig(
        @JsonProperty("agentListen") String agentListen,
        @JsonProperty("endpointBind") String endpointBind,
        @JsonProperty("endpointPorts") String endpointPorts,
        @JsonProperty("serverNames") List<String> serverNames,
        @JsonProperty("tls") TlsFiles tls,
        @JsonProperty("heartbeatTimeoutSeconds") Integer heartbeatTimeoutSeconds,
        @JsonProperty("dialTimeoutSeconds") Integer dialTimeoutSeconds,
        @JsonProperty("accounts") List<Account> accounts,
        @JsonProperty("services") List<Service> services,
        @JsonProperty("endpoints") List<Endpoint> endpoints) {

    public static final String DEFAULT_AGENT_LISTEN = "0.0.0.0:8443";
    public static final String DEFAULT_ENDPOINT_BIND = "127.0.0.1";
    public static final String DEFAULT_ENDPOINT_PORTS = "20000-20999";
    public static final Duration DEFAULT_HEARTBEAT_TIMEOUT = Duration.ofSeconds(6);
    /** How long the gateway waits for an agent to dial a target and open the stream. */
    public static final Duration DEFAULT_DIAL_TIMEOUT = Duration.ofSeconds(15);

    private static final Pattern NAME = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    public GatewayConfig {
        agentListen = agentListen == null ? DEFAULT_AGENT_LISTEN : agentListen;
        endpointBind = endpointBind == null ? DEFAULT_ENDPOINT_BIND : endpointBind;
        endpointPorts = endpointPorts == null ? DEFAULT_ENDPOINT_PORTS : endpointPorts;
        serverNames = serverNames == null ? List.of("localhost", "127.0.0.1") : List.copyOf(serverNames);
        accounts = accounts == null ? List.of() : List.copyOf(accounts);
        services = services == null ? List.of() : List.copyOf(services);
        endpoints = endpoints == null ? List.of() : List.copyOf(endpoints);
    }

    /** An empty configuration: the embedded defaults. */
    public static GatewayConfig defaults() {
        return new GatewayConfig(null, null, null, null, null, null, null, null, null, null);
    }

    /** PEM files of the gateway's certificate chain and private key. */
    public record TlsFiles(@JsonProperty("certificate") String certificate,
                           @JsonProperty("privateKey") String privateKey) {
    }

    /** An account and the hashes of its agent tokens. */
    public record Account(@JsonProperty("name") String name,
                          @JsonProperty("agentTokens") List<AgentToken> agentTokens) {
        public Account {
            agentTokens = agentTokens == null ? List.of() : List.copyOf(agentTokens);
        }
    }

    /** An agent token, stored only as the SHA-256 of the token text. */
    public record AgentToken(@JsonProperty("name") String name, @JsonProperty("sha256") String sha256) {
    }

    /** An endpoint service published by {@code account}. */
    public record Service(@JsonProperty("name") String name,
                          @JsonProperty("account") String account,
                          @JsonProperty("listeners") List<Listener> listeners) {
        public Service {
            listeners = listeners == null ? List.of() : List.copyOf(listeners);
        }
    }

    /** A service port and the targets (host:port as the agent reaches them) behind it. */
    public record Listener(@JsonProperty("port") int port, @JsonProperty("targets") List<String> targets) {
        public Listener {
            targets = targets == null ? List.of() : List.copyOf(targets);
        }
    }

    /**
     * A consumer account's endpoint of a service; {@code ports} optionally pins the gateway port
     * for a service port, otherwise one is taken from {@code endpointPorts}.
     */
    public record Endpoint(@JsonProperty("name") String name,
                           @JsonProperty("account") String account,
                           @JsonProperty("service") String service,
                           @JsonProperty("ports") Map<Integer, Integer> ports) {
        public Endpoint {
            ports = ports == null ? Map.of() : Map.copyOf(ports);
        }
    }

    public static GatewayConfig load(Path file) throws IOException {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory())
                .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);
        try (com.fasterxml.jackson.core.JsonParser parser = yaml.createParser(Files.readAllBytes(file))) {
            if (parser.nextToken() == null) {
                return defaults(); // an empty file, or only comments
            }
            GatewayConfig config = yaml.readValue(parser, GatewayConfig.class);
            return config == null ? defaults() : config;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + ": " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")"), e);
        }
    }

    public Duration heartbeatTimeout() {
        return heartbeatTimeoutSeconds == null ? DEFAULT_HEARTBEAT_TIMEOUT : Duration.ofSeconds(heartbeatTimeoutSeconds);
    }

    public Duration dialTimeout() {
        return dialTimeoutSeconds == null ? DEFAULT_DIAL_TIMEOUT : Duration.ofSeconds(dialTimeoutSeconds);
    }

    public HostAndPort agentListenAddress() {
        return HostAndPort.parse(agentListen);
    }

    /** The first and last port of {@code endpointPorts}. */
    public int[] endpointPortRange() {
        String[] parts = endpointPorts.split("-", 2);
        int first = Integer.parseInt(parts[0].trim());
        int last = parts.length == 2 ? Integer.parseInt(parts[1].trim()) : first;
        return new int[] {first, last};
    }

    /** Every problem of this configuration, each as {@code field: value (expected: ...)}. */
    public List<String> validate() {
        List<String> errors = new ArrayList<>();
        check(errors, "agentListen", agentListen, () -> HostAndPort.parse(agentListen));
        check(errors, "endpointPorts", endpointPorts, () -> {
            int[] r = endpointPortRange();
            if (r[0] < 1 || r[1] > 65535 || r[0] > r[1]) {
                throw new IllegalArgumentException("range");
            }
        }, "first-last within 1-65535");
        if (heartbeatTimeoutSeconds != null && heartbeatTimeoutSeconds < 2) {
            errors.add("heartbeatTimeoutSeconds: " + heartbeatTimeoutSeconds + " (expected: >= 2)");
        }
        if (dialTimeoutSeconds != null && dialTimeoutSeconds < 1) {
            errors.add("dialTimeoutSeconds: " + dialTimeoutSeconds + " (expected: >= 1)");
        }
        if (tls != null && (tls.certificate() == null || tls.privateKey() == null)) {
            errors.add("tls: both certificate and privateKey (expected: two PEM file paths, or no tls section to generate them)");
        }
        Set<String> accountNames = new HashSet<>();
        Set<String> tokenHashes = new HashSet<>();
        for (int i = 0; i < accounts.size(); i++) {
            Account a = accounts.get(i);
            String at = "accounts[" + i + "]";
            checkName(errors, at + ".name", a.name());
            if (!accountNames.add(a.name())) {
                errors.add(at + ".name: " + a.name() + " (expected: unique)");
            }
            for (int j = 0; j < a.agentTokens().size(); j++) {
                AgentToken t = a.agentTokens().get(j);
                String tt = at + ".agentTokens[" + j + "]";
                checkName(errors, tt + ".name", t.name());
                if (t.sha256() == null || !SHA256_HEX.matcher(t.sha256()).matches()) {
                    errors.add(tt + ".sha256: " + t.sha256()
                            + " (expected: 64 lowercase hex digits, from 'underpass token generate')");
                } else if (!tokenHashes.add(t.sha256())) {
                    errors.add(tt + ".sha256: (expected: unique; the same token is listed twice)");
                }
            }
        }
        Map<String, Service> serviceByName = new java.util.HashMap<>();
        for (int i = 0; i < services.size(); i++) {
            Service s = services.get(i);
            String at = "services[" + i + "]";
            checkName(errors, at + ".name", s.name());
            if (serviceByName.putIfAbsent(s.name(), s) != null) {
                errors.add(at + ".name: " + s.name() + " (expected: unique)");
            }
            if (!accountNames.contains(s.account())) {
                errors.add(at + ".account: " + s.account() + " (expected: one of the accounts)");
            }
            if (s.listeners().isEmpty()) {
                errors.add(at + ".listeners: [] (expected: at least one listener)");
            }
            Set<Integer> ports = new HashSet<>();
            for (int j = 0; j < s.listeners().size(); j++) {
                Listener l = s.listeners().get(j);
                String lt = at + ".listeners[" + j + "]";
                if (l.port() < 1 || l.port() > 65535) {
                    errors.add(lt + ".port: " + l.port() + " (expected: 1-65535)");
                } else if (!ports.add(l.port())) {
                    errors.add(lt + ".port: " + l.port() + " (expected: unique within the service)");
                }
                if (l.targets().isEmpty()) {
                    errors.add(lt + ".targets: [] (expected: at least one host:port)");
                }
                for (int k = 0; k < l.targets().size(); k++) {
                    String target = l.targets().get(k);
                    check(errors, lt + ".targets[" + k + "]", target, () -> HostAndPort.parseDialable(target));
                }
            }
        }
        Set<String> endpointNames = new HashSet<>();
        Set<Integer> pinnedPorts = new HashSet<>();
        for (int i = 0; i < endpoints.size(); i++) {
            Endpoint e = endpoints.get(i);
            String at = "endpoints[" + i + "]";
            checkName(errors, at + ".name", e.name());
            if (!endpointNames.add(e.name())) {
                errors.add(at + ".name: " + e.name() + " (expected: unique)");
            }
            if (!accountNames.contains(e.account())) {
                errors.add(at + ".account: " + e.account() + " (expected: one of the accounts)");
            }
            Service s = serviceByName.get(e.service());
            if (s == null) {
                errors.add(at + ".service: " + e.service() + " (expected: one of the services)");
                continue;
            }
            for (Map.Entry<Integer, Integer> p : e.ports().entrySet()) {
                if (s.listeners().stream().noneMatch(l -> l.port() == p.getKey())) {
                    errors.add(at + ".ports." + p.getKey() + ": (expected: a listener port of service " + s.name() + ")");
                }
                if (p.getValue() == null || p.getValue() < 1 || p.getValue() > 65535) {
                    errors.add(at + ".ports." + p.getKey() + ": " + p.getValue() + " (expected: 1-65535)");
                } else if (!pinnedPorts.add(p.getValue())) {
                    errors.add(at + ".ports." + p.getKey() + ": " + p.getValue() + " (expected: a gateway port used once)");
                }
            }
        }
        return errors;
    }

    private static void checkName(List<String> errors, String field, String value) {
        if (value == null || !NAME.matcher(value).matches()) {
            errors.add(field + ": " + value + " (expected: lowercase letters, digits and '-', 1-63 characters)");
        }
    }

    private static void check(List<String> errors, String field, String value, Runnable parse) {
        check(errors, field, value, parse, null);
    }

    private static void check(List<String> errors, String field, String value, Runnable parse, String expected) {
        try {
            if (value == null) {
                throw new IllegalArgumentException("missing");
            }
            parse.run();
        } catch (RuntimeException e) {
            errors.add(field + ": " + value + " (expected: " + (expected != null ? expected : "host:port") + ")");
        }
    }
}
