package dev.underpass.agent.config;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Protocol;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The agent's configuration: where the gateway is, how to trust it, the agent token, an
 * optional egress proxy and, above all, the targets this agent may dial. That target list is
 * the source of truth: the gateway can only ask for what is in it.
 */
public record AgentConfig(
        @JsonProperty("gateway") String gateway,
        @JsonProperty("name") String name,
        @JsonProperty("token") String token,
        @JsonProperty("tokenFile") String tokenFile,
        @JsonProperty("caFile") String caFile,
        @JsonProperty("pin") String pin,
        @JsonProperty("proxy") String proxy,
        @JsonProperty("heartbeatIntervalSeconds") Integer heartbeatIntervalSeconds,
        @JsonProperty("heartbeatTimeoutSeconds") Integer heartbeatTimeoutSeconds,
        @JsonProperty("dialTimeoutSeconds") Integer dialTimeoutSeconds,
        @JsonProperty("targets") List<String> targets,
        @JsonProperty("metricsListen") String metricsListen,
        @JsonProperty("drainTimeoutSeconds") Integer drainTimeoutSeconds,
        @JsonProperty("clientCert") String clientCert,
        @JsonProperty("clientKey") String clientKey,
        @JsonProperty("identity") String identity,
        @JsonProperty("oidcTokenFile") String oidcTokenFile,
        @JsonProperty("targetNetworks") List<String> targetNetworks,
        @JsonProperty("links") Integer links,
        @JsonProperty("listen") List<String> listen) {

    public static final Duration DEFAULT_HEARTBEAT_INTERVAL = Duration.ofSeconds(2);
    public static final Duration DEFAULT_HEARTBEAT_TIMEOUT = Duration.ofSeconds(6);
    public static final Duration DEFAULT_DIAL_TIMEOUT = Duration.ofSeconds(10);
    /** Environment variable an agent token may come from, so it stays out of files and argv. */
    public static final String TOKEN_ENV = "UNDERPASS_AGENT_TOKEN";

    private static final Pattern PIN = Pattern.compile("sha256:[0-9a-fA-F:]{64,95}");
    private static final Pattern AGENT_TOKEN = Pattern.compile("upa_[A-Za-z0-9_-]+");
    private static final Pattern IDENTITY = Pattern.compile("wid-[0-9a-f]{16}");
    /** Environment variables OIDC workload identity may come from, like {@link #TOKEN_ENV}. */
    public static final String IDENTITY_ENV = "UNDERPASS_AGENT_IDENTITY";

    public static final String OIDC_TOKEN_FILE_ENV = "UNDERPASS_OIDC_TOKEN_FILE";

    /** How long a stopping agent lets live connections finish (inside Kubernetes' default 30 s grace). */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(20);
    /** Links to two nodes of a gateway cluster: the loss of one leaves the other carrying everything. */
    public static final int DEFAULT_LINKS = 2;

    public static final int MAX_LINKS = 16;

    public AgentConfig {
        targets = targets == null ? List.of() : List.copyOf(targets);
        targetNetworks = targetNetworks == null ? List.of() : List.copyOf(targetNetworks);
        listen = listen == null ? List.of() : List.copyOf(listen);
    }

    /** Without agent listeners. */
    public AgentConfig(
            String gateway,
            String name,
            String token,
            String tokenFile,
            String caFile,
            String pin,
            String proxy,
            Integer heartbeatIntervalSeconds,
            Integer heartbeatTimeoutSeconds,
            Integer dialTimeoutSeconds,
            List<String> targets,
            String metricsListen,
            Integer drainTimeoutSeconds,
            String clientCert,
            String clientKey,
            String identity,
            String oidcTokenFile,
            List<String> targetNetworks,
            Integer links) {
        this(
                gateway,
                name,
                token,
                tokenFile,
                caFile,
                pin,
                proxy,
                heartbeatIntervalSeconds,
                heartbeatTimeoutSeconds,
                dialTimeoutSeconds,
                targets,
                metricsListen,
                drainTimeoutSeconds,
                clientCert,
                clientKey,
                identity,
                oidcTokenFile,
                targetNetworks,
                links,
                null);
    }

    /** The agent listeners the file lists (parsed; {@link #validate()} reports those that do not parse). */
    public List<ListenerSpec> listeners() {
        return listen.stream().map(ListenerSpec::parse).toList();
    }

    /** An agent with a token and the defaults of everything else it does not name. */
    public AgentConfig(
            String gateway,
            String name,
            String token,
            String tokenFile,
            String caFile,
            String pin,
            String proxy,
            Integer heartbeatIntervalSeconds,
            Integer heartbeatTimeoutSeconds,
            Integer dialTimeoutSeconds,
            List<String> targets) {
        this(
                gateway,
                name,
                token,
                tokenFile,
                caFile,
                pin,
                proxy,
                heartbeatIntervalSeconds,
                heartbeatTimeoutSeconds,
                dialTimeoutSeconds,
                targets,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null);
    }

    public static AgentConfig load(Path file) throws IOException {
        ObjectMapper yaml =
                new ObjectMapper(new YAMLFactory()).configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);
        try (com.fasterxml.jackson.core.JsonParser parser = yaml.createParser(Files.readAllBytes(file))) {
            if (parser.nextToken() == null) {
                return empty(); // an empty file, or only comments
            }
            AgentConfig c = yaml.readValue(parser, AgentConfig.class);
            return c == null ? empty() : c;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(
                    file + ": " + e.getOriginalMessage()
                            + (e.getLocation() == null
                                    ? ""
                                    : " (line " + e.getLocation().getLineNr() + ")"),
                    e);
        }
    }

    public static AgentConfig empty() {
        return new AgentConfig(null, null, null, null, null, null, null, null, null, null, null);
    }

    /** This configuration with every non-null field of {@code o} taking precedence (flags over file). */
    public AgentConfig overriddenBy(AgentConfig o) {
        List<String> t = new ArrayList<>(targets);
        o.targets().stream().filter(x -> !t.contains(x)).forEach(t::add);
        List<String> networks = new ArrayList<>(targetNetworks);
        o.targetNetworks().stream().filter(x -> !networks.contains(x)).forEach(networks::add);
        List<String> listeners = new ArrayList<>(listen);
        o.listen().stream().filter(x -> !listeners.contains(x)).forEach(listeners::add);
        return new AgentConfig(
                or(o.gateway, gateway),
                or(o.name, name),
                or(o.token, token),
                or(o.tokenFile, tokenFile),
                or(o.caFile, caFile),
                or(o.pin, pin),
                or(o.proxy, proxy),
                or(o.heartbeatIntervalSeconds, heartbeatIntervalSeconds),
                or(o.heartbeatTimeoutSeconds, heartbeatTimeoutSeconds),
                or(o.dialTimeoutSeconds, dialTimeoutSeconds),
                t,
                or(o.metricsListen, metricsListen),
                or(o.drainTimeoutSeconds, drainTimeoutSeconds),
                or(o.clientCert, clientCert),
                or(o.clientKey, clientKey),
                or(o.identity, identity),
                or(o.oidcTokenFile, oidcTokenFile),
                networks,
                or(o.links, links),
                listeners);
    }

    private static <T> T or(T a, T b) {
        return a != null ? a : b;
    }

    public Duration heartbeatInterval() {
        return heartbeatIntervalSeconds == null
                ? DEFAULT_HEARTBEAT_INTERVAL
                : Duration.ofSeconds(heartbeatIntervalSeconds);
    }

    public Duration heartbeatTimeout() {
        return heartbeatTimeoutSeconds == null
                ? DEFAULT_HEARTBEAT_TIMEOUT
                : Duration.ofSeconds(heartbeatTimeoutSeconds);
    }

    public Duration dialTimeout() {
        return dialTimeoutSeconds == null ? DEFAULT_DIAL_TIMEOUT : Duration.ofSeconds(dialTimeoutSeconds);
    }

    public Duration drainTimeout() {
        return drainTimeoutSeconds == null ? DEFAULT_DRAIN_TIMEOUT : Duration.ofSeconds(drainTimeoutSeconds);
    }

    /** Where /metrics, /healthz and /readyz are served; null when they are off (the default). */
    public HostAndPort metricsListenAddress() {
        return metricsListen == null ? null : HostAndPort.parse(metricsListen);
    }

    /** How many gateway nodes this agent keeps a link to at once (docs/cluster.md). */
    public int linkCount() {
        return links == null ? DEFAULT_LINKS : links;
    }

    public HostAndPort gatewayAddress() {
        return HostAndPort.parse(gateway);
    }

    public List<HostAndPort> targetAddresses() {
        return targets.stream().map(HostAndPort::parse).distinct().toList();
    }

    /** Every problem, each as {@code field: value (expected: ...)}; never echoes the token. */
    public List<String> validate() {
        List<String> errors = new ArrayList<>();
        if (links != null && (links < 1 || links > MAX_LINKS)) {
            errors.add(
                    "links: " + links + " (expected: 1-" + MAX_LINKS + ", how many gateway nodes to keep a link to)");
        }
        if (gateway == null) {
            errors.add("gateway: missing (expected: host:port of the gateway's agent port)");
        } else {
            try {
                HostAndPort.parseDialable(gateway);
            } catch (IllegalArgumentException e) {
                errors.add("gateway: " + shown(gateway) + " (expected: host:port)");
            }
        }
        checkCredentials(errors);
        if (token != null && token.isBlank()) {
            errors.add("token: empty (expected: the agent token, upa_...)");
        }
        if (tokenFile != null && !Files.isReadable(Path.of(tokenFile))) {
            errors.add("tokenFile: " + shown(tokenFile) + " (expected: a readable file)");
        }
        if (caFile != null && !Files.isReadable(Path.of(caFile))) {
            errors.add("caFile: " + shown(caFile) + " (expected: a readable PEM file)");
        }
        if (pin != null && !(PIN.matcher(pin).matches() && pinHex().length() == 64)) {
            errors.add("pin: " + shown(pin) + " (expected: sha256:<64 hex digits>, as the gateway logs at start)");
        }
        if (proxy != null) {
            try {
                ProxySettings.parse(proxy);
            } catch (IllegalArgumentException e) {
                errors.add("proxy: " + shown(ProxySettings.redact(proxy))
                        + " (expected: http://[user:password@]host:port)");
            }
        }
        checkPositive(errors, "heartbeatIntervalSeconds", heartbeatIntervalSeconds);
        checkPositive(errors, "heartbeatTimeoutSeconds", heartbeatTimeoutSeconds);
        checkPositive(errors, "dialTimeoutSeconds", dialTimeoutSeconds);
        if (drainTimeoutSeconds != null && (drainTimeoutSeconds < 0 || drainTimeoutSeconds > 3600)) {
            errors.add("drainTimeoutSeconds: " + drainTimeoutSeconds + " (expected: 0 to 3600)");
        }
        if (metricsListen != null) {
            try {
                HostAndPort.parse(metricsListen);
            } catch (IllegalArgumentException e) {
                errors.add("metricsListen: " + shown(metricsListen) + " (expected: host:port, e.g. 127.0.0.1:9465)");
            }
        }
        if (heartbeatInterval().compareTo(heartbeatTimeout()) >= 0) {
            errors.add("heartbeatTimeoutSeconds: " + heartbeatTimeout().toSeconds()
                    + " (expected: more than heartbeatIntervalSeconds "
                    + heartbeatInterval().toSeconds() + ")");
        }
        if (targets.size() > Protocol.MAX_ADVERTISED_TARGETS) {
            errors.add("targets: " + targets.size() + " entries (expected: at most " + Protocol.MAX_ADVERTISED_TARGETS
                    + ", what a gateway accepts in one advertise)");
        }
        if (targets.isEmpty() && listen.isEmpty()) {
            errors.add("targets: [] (expected: at least one host:port this agent may reach, "
                    + "or an agent listener under listen)");
        }
        if (listen.size() > Protocol.MAX_AGENT_LISTENERS) {
            errors.add(
                    "listen: " + listen.size() + " entries (expected: at most " + Protocol.MAX_AGENT_LISTENERS + ")");
        }
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 0; i < listen.size(); i++) {
            try {
                ListenerSpec l = ListenerSpec.parse(listen.get(i));
                if (!seen.add(l.address().toString())) {
                    errors.add("listen[" + i + "]: " + shown(listen.get(i)) + " (expected: each address once)");
                }
            } catch (IllegalArgumentException e) {
                errors.add("listen[" + i + "]: " + shown(listen.get(i)) + " (" + e.getMessage() + ")");
            }
        }
        for (int i = 0; i < targets.size(); i++) {
            try {
                HostAndPort.parseDialable(targets.get(i));
            } catch (IllegalArgumentException e) {
                errors.add("targets[" + i + "]: " + shown(targets.get(i)) + " (expected: host:port)");
            }
        }
        errors.addAll(TargetNetworks.validate(targetNetworks));
        return errors;
    }

    /**
     * A value as shown in an error, with anything that looks like an agent token masked: the
     * common mistake {@code --token-file upa_...} must not print the token.
     */
    private static String shown(String value) {
        return AGENT_TOKEN.matcher(value).replaceAll("upa_****");
    }

    /**
     * Exactly one credential: a token, or a client certificate from enrollment. A new kind of
     * credential adds its name to {@link #credentials()} and its own checks here.
     */
    private void checkCredentials(List<String> errors) {
        List<String> configured = credentials();
        if (configured.isEmpty()) {
            errors.add("token: missing (expected: --token-file FILE or the " + TOKEN_ENV + " environment variable, "
                    + "or --client-cert and --client-key from 'underpass agent enroll', "
                    + "or --identity wid-... and --oidc-token-file FILE for OIDC workload identity)");
        } else if (configured.size() > 1) {
            errors.add("credentials: " + String.join(" and ", configured)
                    + " (expected: exactly one of them; an agent authenticates one way)");
        }
        if ((clientCert == null) != (clientKey == null)) {
            errors.add(
                    clientCert == null
                            ? "clientCert: missing (expected: with clientKey, the certificate from "
                                    + "'underpass agent enroll', client.pem)"
                            : "clientKey: missing (expected: with clientCert, the key "
                                    + "from 'underpass agent enroll', client-key.pem)");
        }
        checkIdentity(errors);
        if (clientCert != null && !Files.isReadable(Path.of(clientCert))) {
            errors.add("clientCert: " + shown(clientCert) + " (expected: a readable PEM file)");
        }
        if (clientKey != null && !Files.isReadable(Path.of(clientKey))) {
            errors.add("clientKey: " + shown(clientKey) + " (expected: a readable PEM file, plain or sealed)");
        }
    }

    /** The credentials this configuration names, by field. */
    private List<String> credentials() {
        List<String> c = new ArrayList<>();
        if (token != null || tokenFile != null) {
            c.add(token != null ? "token" : "tokenFile");
        }
        if (clientCert != null || clientKey != null) {
            c.add("clientCert");
        }
        if (identity != null || oidcTokenFile != null) {
            c.add("identity");
        }
        return c;
    }

    /** OIDC workload identity: the agent identity's id and the file its JWT is read from at every connect. */
    private void checkIdentity(List<String> errors) {
        if ((identity == null) != (oidcTokenFile == null)) {
            errors.add(
                    identity == null
                            ? "identity: missing (expected: with oidcTokenFile, the agent identity wid-... "
                                    + "the JWT is for, from 'underpass agent-identity create')"
                            : "oidcTokenFile: missing (expected: with "
                                    + "identity, the file holding the JWT, such as a Kubernetes projected service-account token)");
        }
        if (identity != null && !IDENTITY.matcher(identity).matches()) {
            errors.add("identity: " + shown(identity)
                    + " (expected: wid- and 16 hex digits, as 'underpass agent-identity " + "create' shows it)");
        }
        if (oidcTokenFile != null && !Files.isReadable(Path.of(oidcTokenFile))) {
            errors.add("oidcTokenFile: " + shown(oidcTokenFile) + " (expected: a readable file holding the JWT)");
        }
    }

    /** Whether this agent authenticates with a JWT from {@link #oidcTokenFile} for agent identity {@link #identity}. */
    public boolean usesIdentity() {
        return identity != null;
    }

    /**
     * The JWT for the next session, read afresh from {@link #oidcTokenFile} (Kubernetes and CI
     * rotate it); white space around it removed.
     *
     * @throws IOException when the file cannot be read or holds nothing
     */
    public String readOidcToken() throws IOException {
        String jwt = Files.readString(Path.of(oidcTokenFile)).trim();
        if (jwt.isEmpty()) {
            throw new IOException("oidcTokenFile " + oidcTokenFile + " is empty (expected: a JWT)");
        }
        return jwt;
    }

    /** The pinned fingerprint as bare lower-case hex ({@code sha256:AB:CD...} becomes {@code abcd...}); null without a pin. */
    public String pinHex() {
        return pin == null
                ? null
                : pin.substring("sha256:".length()).replace(":", "").toLowerCase(Locale.ROOT);
    }

    /** Whether this agent authenticates with a client certificate rather than a token. */
    public boolean usesClientCertificate() {
        return clientCert != null;
    }

    private static void checkPositive(List<String> errors, String field, Integer value) {
        if (value != null && value < 1) {
            errors.add(field + ": " + value + " (expected: >= 1)");
        }
    }

    /** The token, from the configuration or its file; trailing white space removed; null for another credential. */
    public String resolveToken() throws IOException {
        if (token == null && tokenFile == null) {
            return null;
        }
        return token != null
                ? token.trim()
                : Files.readString(Path.of(tokenFile)).trim();
    }

    /** An HTTP CONNECT proxy for the gateway link: scheme http, optional credentials. */
    public record ProxySettings(HostAndPort address, String username, String password) {
        public static ProxySettings parse(String url) {
            URI uri = URI.create(url.contains("://") ? url : "http://" + url);
            if (!"http".equalsIgnoreCase(uri.getScheme()) || uri.getHost() == null) {
                throw new IllegalArgumentException("proxy");
            }
            int port = uri.getPort() == -1 ? 80 : uri.getPort();
            String user = null;
            String pass = null;
            if (uri.getUserInfo() != null) {
                String[] up = uri.getUserInfo().split(":", 2);
                user = up[0];
                pass = up.length == 2 ? up[1] : "";
            }
            return new ProxySettings(new HostAndPort(uri.getHost(), port), user, pass);
        }

        /** The URL without its password, for logs and errors. */
        public static String redact(String url) {
            // Up to the last '@': a password may hold '/' or '@', and over-masking leaks nothing.
            return url.replaceAll("//([^:/@]*):.*@", "//$1:****@");
        }

        @Override
        public String toString() {
            return "http://" + (username == null ? "" : username + ":****@") + address;
        }
    }
}
