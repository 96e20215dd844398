package dev.underpass.gateway;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.gateway.auth.OidcIssuer;
import dev.underpass.gateway.consumer.proxy.EgressPolicy;
import dev.underpass.protocol.HostAndPort;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The gateway's configuration file (YAML), immutable once loaded. {@link #validate()} returns
 * every problem with its field path, so an operator fixes them all in one go.
 */
public record GatewayConfig(
        @JsonProperty("agentListen") String agentListen,
        @JsonProperty("apiListen") String apiListen,
        @JsonProperty("proxyListen") String proxyListen,
        @JsonProperty("sniListen") String sniListen,
        @JsonProperty("sniServicePort") Integer sniServicePort,
        @JsonProperty("dnsListen") String dnsListen,
        @JsonProperty("dnsForward") String dnsForward,
        @JsonProperty("egressAllow") List<String> egressAllow,
        @JsonProperty("endpointBind") String endpointBind,
        @JsonProperty("endpointHost") String endpointHost,
        @JsonProperty("endpointPorts") String endpointPorts,
        @JsonProperty("endpointDomain") String endpointDomain,
        @JsonProperty("serverNames") List<String> serverNames,
        @JsonProperty("tls") TlsFiles tls,
        @JsonProperty("store") StoreSettings store,
        @JsonProperty("heartbeatTimeoutSeconds") Integer heartbeatTimeoutSeconds,
        @JsonProperty("dialTimeoutSeconds") Integer dialTimeoutSeconds,
        @JsonProperty("connectionRequestTtlHours") Integer connectionRequestTtlHours,
        @JsonProperty("dnsServer") String dnsServer,
        @JsonProperty("metricsListen") String metricsListen,
        @JsonProperty("drainTimeoutSeconds") Integer drainTimeoutSeconds,
        @JsonProperty("limits") Limits limits,
        @JsonProperty("oidcIssuers") List<OidcIssuer> oidcIssuers,
        @JsonProperty("oidcUsers") OidcIssuer.Users oidcUsers,
        @JsonProperty("cluster") ClusterSettings cluster,
        @JsonProperty("drainNotReadySeconds") Integer drainNotReadySeconds) {

    public static final String DEFAULT_AGENT_LISTEN = "0.0.0.0:8443";
    /** The API listens on loopback until the operator decides who may reach it. */
    public static final String DEFAULT_API_LISTEN = "127.0.0.1:9443";
    /** The forward proxy for consumers, on loopback until the operator opens it. */
    public static final String DEFAULT_PROXY_LISTEN = "127.0.0.1:3128";
    /** The TLS port routing by server name, standing for the service port {@link #DEFAULT_SNI_SERVICE_PORT}. */
    public static final String DEFAULT_SNI_LISTEN = "127.0.0.1:4443";

    public static final int DEFAULT_SNI_SERVICE_PORT = 443;
    /** Plain HTTP for Prometheus and probes (/metrics, /healthz, /readyz), on loopback by default. */
    public static final String DEFAULT_METRICS_LISTEN = "127.0.0.1:9464";
    /** How long a stopping gateway lets live connections finish (inside Kubernetes' default 30 s grace). */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(20);

    public static final String DEFAULT_ENDPOINT_BIND = "127.0.0.1";
    public static final String DEFAULT_ENDPOINT_PORTS = "20000-20999";
    public static final Duration DEFAULT_HEARTBEAT_TIMEOUT = Duration.ofSeconds(6);
    /** How long the gateway waits for an agent to dial a target and open the stream. */
    public static final Duration DEFAULT_DIAL_TIMEOUT = Duration.ofSeconds(15);
    /** Endpoint names are id (19) + service (63) + account (63) + the domain, with dots: 253 at most. */
    static final int MAX_ENDPOINT_DOMAIN = 105;
    /** The environment variable holding the store's password (never the configuration file). */
    public static final String STORE_PASSWORD_ENV = "UNDERPASS_STORE_PASSWORD";

    public GatewayConfig {
        agentListen = agentListen == null ? DEFAULT_AGENT_LISTEN : agentListen;
        apiListen = apiListen == null ? DEFAULT_API_LISTEN : apiListen;
        proxyListen = proxyListen == null ? DEFAULT_PROXY_LISTEN : proxyListen;
        sniListen = sniListen == null ? DEFAULT_SNI_LISTEN : sniListen;
        metricsListen = metricsListen == null ? DEFAULT_METRICS_LISTEN : metricsListen;
        sniServicePort = sniServicePort == null ? DEFAULT_SNI_SERVICE_PORT : sniServicePort;
        egressAllow = egressAllow == null ? List.of() : List.copyOf(egressAllow);
        endpointBind = endpointBind == null ? DEFAULT_ENDPOINT_BIND : endpointBind;
        endpointPorts = endpointPorts == null ? DEFAULT_ENDPOINT_PORTS : endpointPorts;
        endpointDomain = endpointDomain == null ? ControlPlane.Settings.DEFAULT_DOMAIN : endpointDomain;
        serverNames = serverNames == null ? List.of("localhost", "127.0.0.1") : List.copyOf(serverNames);
        limits = limits == null ? new Limits(null, null) : limits;
        oidcIssuers =
                oidcIssuers == null ? List.of() : java.util.Collections.unmodifiableList(new ArrayList<>(oidcIssuers));
    }

    /**
     * Abuse limits: live consumer connections per consumer account (endpoint ports, proxy and TLS
     * listener together) and concurrent streams per agent link (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
     */
    public record Limits(
            @JsonProperty("connectionsPerConsumer") Integer connectionsPerConsumer,
            @JsonProperty("streamsPerAgent") Integer streamsPerAgent) {
        public static final int DEFAULT_CONNECTIONS_PER_CONSUMER = 4096;
        public static final int DEFAULT_STREAMS_PER_AGENT =
                (int) dev.underpass.protocol.LinkSettings.MAX_CONCURRENT_STREAMS;

        public Limits {
            connectionsPerConsumer =
                    connectionsPerConsumer == null ? DEFAULT_CONNECTIONS_PER_CONSUMER : connectionsPerConsumer;
            streamsPerAgent = streamsPerAgent == null ? DEFAULT_STREAMS_PER_AGENT : streamsPerAgent;
        }
    }

    /** An empty configuration: the embedded defaults. */
    public static GatewayConfig defaults() {
        return new GatewayConfig(
                null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null, null);
    }

    /** This configuration with the agent, API and proxy addresses given on the command line, where they are. */
    public GatewayConfig withListen(String agent, String api, String proxy) {
        return withListen(agent, api, proxy, null);
    }

    /** As {@link #withListen(String, String, String)}, with the TLS port routing by server name. */
    public GatewayConfig withListen(String agent, String api, String proxy, String sni) {
        return withListen(agent, api, proxy, sni, null);
    }

    /** As {@link #withListen(String, String, String, String)}, with the metrics and probes port. */
    public GatewayConfig withListen(String agent, String api, String proxy, String sni, String metrics) {
        return new GatewayConfig(
                agent != null ? agent : agentListen,
                api != null ? api : apiListen,
                proxy != null ? proxy : proxyListen,
                sni != null ? sni : sniListen,
                sniServicePort,
                dnsListen,
                dnsForward,
                egressAllow,
                endpointBind,
                endpointHost,
                endpointPorts,
                endpointDomain,
                serverNames,
                tls,
                store,
                heartbeatTimeoutSeconds,
                dialTimeoutSeconds,
                connectionRequestTtlHours,
                dnsServer,
                metrics != null ? metrics : metricsListen,
                drainTimeoutSeconds,
                limits,
                oidcIssuers,
                oidcUsers,
                cluster,
                drainNotReadySeconds);
    }

    /**
     * This node in a cluster of gateways on one PostgreSQL store (docs/cluster.md): its id (else
     * generated once and kept in the data directory's {@value #NODE_ID_FILE}) and where agents and
     * peer nodes reach its agent port (else the agent port's address when it is specific, else the
     * first server name with the agent port).
     */
    public record ClusterSettings(
            @JsonProperty("nodeId") String nodeId,
            @JsonProperty("advertise") String advertise) {}

    /** Where a generated node id is kept, under the data directory. */
    public static final String NODE_ID_FILE = "node-id";

    /** Where agents and peer nodes reach this node's agent port, bound at {@code boundPort}. */
    public HostAndPort advertisedAgentAddress(int boundPort) {
        if (cluster != null && cluster.advertise() != null) {
            return HostAndPort.parse(cluster.advertise());
        }
        String host = agentListenAddress().host();
        return new HostAndPort(wildcard(host) ? serverNames.getFirst() : host, boundPort);
    }

    /** PEM files of the gateway's certificate chain and private key. */
    public record TlsFiles(
            @JsonProperty("certificate") String certificate,
            @JsonProperty("privateKey") String privateKey) {}

    /**
     * The store: a JDBC URL (PostgreSQL for production) and user; the password comes from
     * {@value #STORE_PASSWORD_ENV}. Absent, the embedded database under the data directory.
     */
    public record StoreSettings(
            @JsonProperty("url") String url,
            @JsonProperty("user") String user) {}

    /** Sections of the tunnel core's configuration file that the store replaced. */
    private static final java.util.Set<String> MOVED_TO_STORE = java.util.Set.of("accounts", "services", "endpoints");

    public static GatewayConfig load(Path file) throws IOException {
        ObjectMapper yaml =
                new ObjectMapper(new YAMLFactory()).configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);
        try (com.fasterxml.jackson.core.JsonParser parser = yaml.createParser(Files.readAllBytes(file))) {
            if (parser.nextToken() == null) {
                return defaults(); // an empty file, or only comments
            }
            GatewayConfig config = yaml.readValue(parser, GatewayConfig.class);
            return config == null ? defaults() : config;
        } catch (com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException e) {
            String moved = MOVED_TO_STORE.contains(e.getPropertyName())
                    ? "; accounts, services and endpoints live in the store "
                            + "now: create them with the API or CLI ('underpass account create', 'underpass service create', ...)"
                    : "";
            throw new IOException(
                    file + ": unknown setting '" + e.getPropertyName() + "'" + moved + " (line "
                            + e.getLocation().getLineNr() + "; expected one of: " + e.getKnownPropertyIds() + ")",
                    e);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(
                    file + ": " + e.getOriginalMessage()
                            + (e.getLocation() == null
                                    ? ""
                                    : " (line " + e.getLocation().getLineNr() + ")"),
                    e);
        }
    }

    public Duration heartbeatTimeout() {
        return heartbeatTimeoutSeconds == null
                ? DEFAULT_HEARTBEAT_TIMEOUT
                : Duration.ofSeconds(heartbeatTimeoutSeconds);
    }

    /**
     * After SIGTERM, how long the gateway answers {@code /readyz} with 503 while it still takes new
     * connections, so that a load balancer in front takes it out before it stops accepting (docs/cluster.md).
     */
    public Duration drainNotReady() {
        return drainNotReadySeconds == null ? Duration.ZERO : Duration.ofSeconds(drainNotReadySeconds);
    }

    public Duration drainTimeout() {
        return drainTimeoutSeconds == null ? DEFAULT_DRAIN_TIMEOUT : Duration.ofSeconds(drainTimeoutSeconds);
    }

    public HostAndPort metricsListenAddress() {
        return HostAndPort.parse(metricsListen);
    }

    public Duration dialTimeout() {
        return dialTimeoutSeconds == null ? DEFAULT_DIAL_TIMEOUT : Duration.ofSeconds(dialTimeoutSeconds);
    }

    public Duration connectionRequestTtl() {
        return connectionRequestTtlHours == null
                ? ControlPlane.Settings.DEFAULT_REQUEST_TTL
                : Duration.ofHours(connectionRequestTtlHours);
    }

    /** The host consumers connect to for endpoint ports: {@code endpointHost}, else the bind address if specific. */
    public String consumerHost() {
        if (endpointHost != null) {
            return endpointHost;
        }
        return wildcard(endpointBind) ? serverNames.getFirst() : endpointBind;
    }

    /**
     * Where consumers reach the forward proxy bound at {@code boundPort}: the host of
     * {@code proxyListen}, else, when that is a wildcard address, the first server name.
     */
    public HostAndPort proxyConsumerAddress(int boundPort) {
        String host = proxyListenAddress().host();
        return new HostAndPort(wildcard(host) ? serverNames.getFirst() : host, boundPort);
    }

    private static boolean wildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]");
    }

    public StoreConfig storeConfig(Path dataDir) {
        if (store == null) {
            return StoreConfig.embedded(dataDir);
        }
        String password = System.getenv(STORE_PASSWORD_ENV);
        return new StoreConfig(
                store.url(), store.user() == null ? "underpass" : store.user(), password == null ? "" : password);
    }

    /** Where the private DNS server listens, or null when it is off (the default). */
    public HostAndPort dnsListenAddress() {
        return dnsListen == null ? null : HostAndPort.parse(dnsListen);
    }

    /** The resolver other names are forwarded to, or null when they are refused. */
    public InetSocketAddress dnsForwardAddress() {
        if (dnsForward == null) {
            return null;
        }
        HostAndPort h = HostAndPort.parse(dnsForward);
        return new InetSocketAddress(h.host(), h.port());
    }

    /** The address DNS answers give for endpoint names: the TLS listener's, as consumers reach it. */
    public String dnsAnswerHost() {
        String host = sniListenAddress().host();
        boolean wildcard = host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]");
        return wildcard ? consumerHost() : host;
    }

    public HostAndPort sniListenAddress() {
        return HostAndPort.parse(sniListen);
    }

    public HostAndPort proxyListenAddress() {
        return HostAndPort.parse(proxyListen);
    }

    public HostAndPort apiListenAddress() {
        return HostAndPort.parse(apiListen);
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
        check(
                errors,
                "endpointPorts",
                endpointPorts,
                () -> {
                    int[] r = endpointPortRange();
                    if (r[0] < 1 || r[1] > 65535 || r[0] > r[1]) {
                        throw new IllegalArgumentException("range");
                    }
                },
                "first-last within 1-65535");
        if (heartbeatTimeoutSeconds != null && heartbeatTimeoutSeconds < 2) {
            errors.add("heartbeatTimeoutSeconds: " + heartbeatTimeoutSeconds + " (expected: >= 2)");
        }
        if (drainNotReadySeconds != null && (drainNotReadySeconds < 0 || drainNotReadySeconds > 300)) {
            errors.add("drainNotReadySeconds: " + drainNotReadySeconds + " (expected: 0 to 300)");
        }
        if (drainTimeoutSeconds != null && (drainTimeoutSeconds < 0 || drainTimeoutSeconds > 3600)) {
            errors.add("drainTimeoutSeconds: " + drainTimeoutSeconds + " (expected: 0 to 3600)");
        }
        errors.addAll(OidcIssuer.validate(oidcIssuers));
        errors.addAll(OidcIssuer.Users.validate(oidcUsers, oidcIssuers));
        if (limits.connectionsPerConsumer() < 1) {
            errors.add("limits.connectionsPerConsumer: " + limits.connectionsPerConsumer() + " (expected: >= 1)");
        }
        if (limits.streamsPerAgent() < 16 || limits.streamsPerAgent() > 1_000_000) {
            errors.add("limits.streamsPerAgent: " + limits.streamsPerAgent() + " (expected: 16 to 1000000)");
        }
        if (dialTimeoutSeconds != null && dialTimeoutSeconds < 1) {
            errors.add("dialTimeoutSeconds: " + dialTimeoutSeconds + " (expected: >= 1)");
        }
        if (tls != null && (tls.certificate() == null || tls.privateKey() == null)) {
            errors.add(
                    "tls: both certificate and privateKey (expected: two PEM file paths, or no tls section to generate them)");
        }
        check(errors, "apiListen", apiListen, () -> HostAndPort.parse(apiListen));
        check(errors, "proxyListen", proxyListen, () -> HostAndPort.parse(proxyListen));
        check(errors, "sniListen", sniListen, () -> HostAndPort.parse(sniListen));
        check(errors, "metricsListen", metricsListen, () -> HostAndPort.parse(metricsListen));
        if (dnsListen != null) {
            check(errors, "dnsListen", dnsListen, () -> HostAndPort.parse(dnsListen));
        }
        if (dnsForward != null) {
            check(
                    errors,
                    "dnsForward",
                    dnsForward,
                    () -> {
                        if (dnsListen == null
                                || !HostAndPort.parse(dnsForward).host().matches("[0-9.:a-fA-F\\[\\]]+")) {
                            throw new IllegalArgumentException("needs dnsListen and an IP address");
                        }
                    },
                    "an upstream resolver's IP:port, and dnsListen set");
        }
        errors.addAll(EgressPolicy.validate(egressAllow));
        if (sniServicePort < 1 || sniServicePort > 65535) {
            errors.add("sniServicePort: " + sniServicePort
                    + " (expected: 1-65535, the service port TLS names are routed to)");
        }
        if (dnsServer != null) {
            check(errors, "dnsServer", dnsServer, () -> HostAndPort.parse(dnsServer));
        }
        if (connectionRequestTtlHours != null && connectionRequestTtlHours < 1) {
            errors.add("connectionRequestTtlHours: " + connectionRequestTtlHours + " (expected: >= 1)");
        }
        if (!Names.validDnsName(endpointDomain) || endpointDomain.length() > MAX_ENDPOINT_DOMAIN) {
            errors.add("endpointDomain: " + endpointDomain
                    + " (expected: a lowercase DNS name such as endpoints.example.com, " + "at most "
                    + MAX_ENDPOINT_DOMAIN + " characters so that endpoint names fit in 253)");
        }
        if (serverNames.isEmpty()) {
            errors.add("serverNames: [] (expected: at least one name or address of the gateway)");
        }
        check(
                errors,
                "endpointBind",
                endpointBind,
                () -> HostAndPort.parse((endpointBind.contains(":") && !endpointBind.startsWith("[")
                                ? "[" + endpointBind + "]"
                                : endpointBind)
                        + ":1"),
                "an IP address or host name");
        if (cluster != null
                && cluster.nodeId() != null
                && !cluster.nodeId().matches("[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}")) {
            errors.add("cluster.nodeId: " + cluster.nodeId()
                    + " (expected: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit)");
        }
        if (cluster != null && cluster.advertise() != null) {
            check(
                    errors,
                    "cluster.advertise",
                    cluster.advertise(),
                    () -> HostAndPort.parseDialable(cluster.advertise()));
        }
        if (store != null && (store.url() == null || !store.url().startsWith("jdbc:"))) {
            errors.add("store.url: " + store.url()
                    + " (expected: a JDBC URL such as jdbc:postgresql://db:5432/underpass)");
        }
        return errors;
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
