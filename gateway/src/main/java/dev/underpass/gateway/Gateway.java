package dev.underpass.gateway;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.GatewayInfo;
import dev.underpass.controlplane.api.ApiServer;
import dev.underpass.controlplane.cluster.ChangeFeed;
import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.controlplane.credential.AgentIdentities;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.endpoint.AgentListenerViews;
import dev.underpass.controlplane.service.PrivateNameVerification;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.controlplane.tenancy.OidcLogins;
import dev.underpass.gateway.audit.AuditHeadLog;
import dev.underpass.gateway.audit.ConnectionAudit;
import dev.underpass.gateway.auth.AgentAuthenticator;
import dev.underpass.gateway.auth.AgentCertificates;
import dev.underpass.gateway.auth.AgentJwtVerifier;
import dev.underpass.gateway.auth.IssuerKeys;
import dev.underpass.gateway.auth.OidcIssuer;
import dev.underpass.gateway.auth.TrustedIssuers;
import dev.underpass.gateway.auth.UserJwtVerifier;
import dev.underpass.gateway.cluster.GatewayNode;
import dev.underpass.gateway.cluster.PeerView;
import dev.underpass.gateway.consumer.AgentListeners;
import dev.underpass.gateway.consumer.ConsumerLimit;
import dev.underpass.gateway.consumer.ConsumerRoutes;
import dev.underpass.gateway.consumer.EndpointPorts;
import dev.underpass.gateway.consumer.EndpointProvisioner;
import dev.underpass.gateway.consumer.SniListener;
import dev.underpass.gateway.consumer.proxy.Egress;
import dev.underpass.gateway.consumer.proxy.EgressPolicy;
import dev.underpass.gateway.consumer.proxy.ForwardProxy;
import dev.underpass.gateway.consumer.proxy.ProxyChecks;
import dev.underpass.gateway.dns.PrivateDnsServer;
import dev.underpass.gateway.link.AgentRegistry;
import dev.underpass.gateway.link.AgentServer;
import dev.underpass.gateway.link.AgentStreams;
import dev.underpass.gateway.link.HealthCheckPush;
import dev.underpass.gateway.link.PeerNodes;
import dev.underpass.gateway.observe.ConnectionReports;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.gateway.observe.GatewayMetrics;
import dev.underpass.gateway.pki.GatewayCertificates;
import dev.underpass.gateway.pki.GatewayKeys;
import dev.underpass.protocol.Drain;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.SecretBox;
import dev.underpass.protocol.Tls;
import dev.underpass.protocol.Transport;
import dev.underpass.telemetry.OpsServer;
import dev.underpass.telemetry.Probe;
import dev.underpass.telemetry.RepeatedEvents;
import dev.underpass.telemetry.Telemetry;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running gateway: the store and its control plane, the HTTPS API, the agent port, and the
 * endpoint ports that follow the store. {@link #close()} stops all of it.
 */
public final class Gateway implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Gateway.class);
    /** Where the first start writes the operator's first API key. */
    public static final String ADMIN_KEY_FILE = "admin-key";
    /** How often live sessions are checked against their agent token's expiry. */
    static final long TOKEN_CHECK_SECONDS = 10;
    /** How often agents try a stopped gateway again (they add jitter): a restart has them back within about this. */
    static final Duration AGENT_RECONNECT = Duration.ofSeconds(1);
    /** The version each node reports in the list of nodes. */
    static final String VERSION = "0.1.0";
    /** Distinct values of each metric label (service, endpoint, target) before new ones go unrecorded. */
    static final int MAX_LABEL_VALUES = 2000;

    private final List<AutoCloseable> parts;
    private final InetSocketAddress agentAddress;
    private final InetSocketAddress apiAddress;
    private final InetSocketAddress proxyAddress;
    private final Path caFile;
    private final ControlPlane controlPlane;

    private final Entrances entrances;
    private final AgentRegistry registry;
    private final InetSocketAddress metricsAddress;
    private final Duration drainTimeout;
    private final Duration drainNotReady;
    private final AtomicBoolean draining;
    private final GatewayNode node;

    /** Where consumers come in: closed first when the gateway drains. */
    private record Entrances(
            EndpointProvisioner provisioner, EndpointPorts ports, ForwardProxy proxy, SniListener sni) {}

    private Gateway(
            List<AutoCloseable> parts,
            InetSocketAddress agentAddress,
            InetSocketAddress apiAddress,
            InetSocketAddress proxyAddress,
            Path caFile,
            ControlPlane controlPlane,
            Entrances entrances,
            AgentRegistry registry,
            Duration drainTimeout,
            Duration drainNotReady,
            InetSocketAddress metricsAddress,
            AtomicBoolean draining,
            GatewayNode node) {
        this.node = node;
        this.registry = registry;
        this.draining = draining;
        this.metricsAddress = metricsAddress;
        this.entrances = entrances;
        this.drainTimeout = drainTimeout;
        this.drainNotReady = drainNotReady;
        this.parts = parts;
        this.agentAddress = agentAddress;
        this.apiAddress = apiAddress;
        this.proxyAddress = proxyAddress;
        this.caFile = caFile;
        this.controlPlane = controlPlane;
    }

    /**
     * Starts a gateway. Certificates and the embedded store live under {@code dataDir} unless
     * configured otherwise.
     *
     * @throws IllegalArgumentException listing every configuration problem
     */
    public static Gateway start(GatewayConfig config, Path dataDir) throws Exception {
        return start(config, dataDir, new AuthFailures());
    }

    /** As {@link #start(GatewayConfig, Path)}, with the limits on failed authentication attempts (tests set their clock). */
    static Gateway start(GatewayConfig config, Path dataDir, AuthFailures authFailures) throws Exception {
        return start(config, dataDir, authFailures, SecretBox.fromEnvironment());
    }

    /**
     * As {@link #start(GatewayConfig, Path, AuthFailures)}, with the key that seals private keys at
     * rest ({@link SecretBox#KEY_ENV}; null: none).
     */
    static Gateway start(GatewayConfig config, Path dataDir, AuthFailures authFailures, SecretBox secretBox)
            throws Exception {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(dataDir, "dataDir");
        List<String> errors = config.validate();
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("invalid gateway configuration:\n  " + String.join("\n  ", errors));
        }
        // Private keys may be sealed at rest (ADR 0015); they are opened in memory only.
        GatewayKeys.Loaded keys = GatewayKeys.load(
                new GatewayKeys.Source(
                        config.tls() == null ? null : config.tls().certificate(),
                        config.tls() == null ? null : config.tls().privateKey(),
                        config.serverNames(),
                        List.of(
                                config.agentListenAddress().host(),
                                config.apiListenAddress().host())),
                dataDir,
                secretBox);
        ServerTls tls = ServerTls.of(config, keys);
        // Everything started is closed in reverse order, also when a later step fails.
        List<AutoCloseable> parts = new ArrayList<>();
        try {
            AgentRegistry registry = new AgentRegistry();
            Store store = Store.open(config.storeConfig(dataDir));
            parts.add(store);
            // Revocations reach the other nodes through the change feed, which starts once the rest is built.
            AtomicReference<ChangeFeed> feed = new AtomicReference<>();
            PeerView peers = new PeerView();
            String nodeId = nodeId(config, dataDir);
            ControlPlane cp =
                    controlPlane(config, dataDir, store, authFailures, dataPlane(registry, nodeId, peers, feed));
            EventLoopGroup group = Transport.group("underpass-gateway");
            parts.add(() -> group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly());
            Observability seen = Observability.start(cp, registry, group, parts);
            AtomicBoolean draining = new AtomicBoolean();
            ConsumerSide consumers = ConsumerSide.build(config, cp, registry, seen, group, parts);
            GatewayNode node = GatewayNode.create(new GatewayNode.Parts(
                    cp.nodes(),
                    nodeId,
                    VERSION,
                    registry,
                    draining::get,
                    keys.agentCa(),
                    keys.caFile(),
                    group,
                    seen.reports(),
                    consumers.ports(),
                    peers,
                    config.dialTimeout()));
            AgentSide agents = AgentSide.build(
                    config,
                    cp,
                    keys,
                    tls.agents(),
                    authFailures,
                    registry,
                    seen,
                    group,
                    node.peerNodes(),
                    consumers.listeners(),
                    parts);
            ApiServer api = new ApiServer(cp, tls.api());
            parts.add(api);

            // The agent port opens before the endpoint ports: after a restart, agents (which try again
            // about every second) are back while consumers start to arrive (issue 12).
            InetSocketAddress agentAddress = agents.start(config, group);
            consumers.provisioner().start();
            follow(cp, consumers, agents, registry, parts);
            feed.set(ChangeFeed.start(store, nodeId, new ChangeFeed.Listener() {
                @Override
                public void endpointsChanged() {
                    consumers.provisioner().changed();
                    agents.healthChecks().changed();
                }

                @Override
                public void credentialRevoked(String id) {
                    endSessionsOf(registry, id);
                }
            }));
            parts.add(feed.get());
            cp.onEndpointChange(feed.get()::endpointsChanged);
            InetSocketAddress apiAddress = bind(
                    "api listening on",
                    api::bind,
                    group,
                    config.apiListenAddress(),
                    "(HTTPS, TLS 1.3; document at /v1/openapi.yaml)");
            InetSocketAddress proxyAddress = bind(
                    "forward proxy listening on",
                    consumers.proxy()::bind,
                    group,
                    config.proxyListenAddress(),
                    "(HTTP CONNECT, absolute-form http:// and SOCKS5; an API key as the password)");
            cp.gatewayInfo(GatewayInfo.of(
                    config.proxyConsumerAddress(proxyAddress.getPort()),
                    config.endpointDomain(),
                    config.advertisedAgentAddress(agentAddress.getPort()),
                    keys.caFile() == null ? null : GatewayCertificates.fingerprint(keys.caFile())));
            bind(
                    "TLS listener routing by server name on",
                    consumers.sni()::bind,
                    group,
                    config.sniListenAddress(),
                    "(to each endpoint's port " + config.sniServicePort() + ")");
            consumers.startDns(config, group, parts);
            if (keys.caFile() != null) {
                log.info(
                        "agents and the CLI trust the gateway with --ca-file {} (agents may also --pin {})",
                        keys.caFile(),
                        GatewayCertificates.fingerprint(keys.caFile()));
            }
            node.start(
                    config.advertisedAgentAddress(agentAddress.getPort()).toString(),
                    apiAddress.getHostString() + ":" + apiAddress.getPort());
            parts.add(node); // closed early: the node leaves the list before the agent port and the API stop
            OpsServer ops = seen.serve(
                    config.metricsListenAddress(),
                    List.of(
                            new Probe(
                                    "store",
                                    () -> Optional.ofNullable(
                                            consumers.provisioner().storeProblem())),
                            new Probe("cluster", () -> Optional.ofNullable(node.problem())),
                            new Probe(
                                    "consumers",
                                    () -> draining.get() ? Optional.of("the gateway is draining") : Optional.empty())));
            parts.add(ops);
            log.info("gateway ready");
            return new Gateway(
                    parts,
                    agentAddress,
                    apiAddress,
                    proxyAddress,
                    keys.caFile(),
                    cp,
                    new Entrances(consumers.provisioner(), consumers.ports(), consumers.proxy(), consumers.sni()),
                    registry,
                    config.drainTimeout(),
                    config.drainNotReady(),
                    ops.address(),
                    draining,
                    node);
        } catch (Exception | Error e) {
            closeAll(parts);
            throw e;
        }
    }

    /** The TLS of the agent port (asking for client certificates of the agent CA) and of the API. */
    private record ServerTls(SslContext agents, SslContext api) {
        static ServerTls of(GatewayConfig config, GatewayKeys.Loaded keys) throws IOException {
            String certShown = config.tls() != null ? config.tls().certificate() : "tls/gateway.pem";
            try {
                return new ServerTls(
                        Tls.server(
                                keys.certificateChain(),
                                keys.privateKey(),
                                keys.agentCa().certificate()),
                        Tls.httpsServer(keys.certificateChain(), keys.privateKey()));
            } catch (IOException | IllegalArgumentException e) {
                throw new IOException(
                        "tls: cannot load certificate " + certShown + " and its key: " + e.getMessage(), e);
            }
        }
    }

    /** The store, the control plane on it, its OIDC settings and, on a fresh store, the operator's first key. */
    private static ControlPlane controlPlane(
            GatewayConfig config,
            Path dataDir,
            Store store,
            AuthFailures authFailures,
            ControlPlane.DataPlane dataPlane)
            throws IOException {
        Set<String> agentIssuers =
                config.oidcIssuers().stream().map(OidcIssuer::issuer).collect(Collectors.toUnmodifiableSet());
        if (!agentIssuers.isEmpty()) {
            log.info("agents may authenticate with JWTs of {} (OIDC workload identity, ADR 13)", agentIssuers);
        }
        OidcLogins.Verifier userLogins = null;
        if (config.oidcUsers() != null) {
            TrustedIssuers trusted = new TrustedIssuers(config.oidcIssuers(), IssuerKeys.Settings.DEFAULTS);
            userLogins = new UserJwtVerifier(
                    trusted.keys(config.oidcUsers().issuer()),
                    config.oidcUsers().audience(),
                    Clock.systemUTC());
            log.info(
                    "API users may log in with JWTs of {} for audience {} (OIDC login)",
                    config.oidcUsers().issuer(),
                    config.oidcUsers().audience());
        }
        ControlPlane cp = new ControlPlane(
                store,
                new ControlPlane.Settings(
                        config.endpointDomain(),
                        config.consumerHost(),
                        config.connectionRequestTtl(),
                        config.dnsServer()),
                Clock.systemUTC(),
                PrivateNameVerification.jndi(config.dnsServer()),
                authFailures,
                dataPlane,
                new ControlPlane.Oidc(agentIssuers, userLogins));
        writeFirstKey(cp, dataDir);
        return cp;
    }

    /** Metrics, the connection audit and the one reporter of consumer connections that feeds both and the log. */
    private record Observability(Telemetry telemetry, GatewayMetrics metrics, ConnectionReports reports) {
        static Observability start(
                ControlPlane cp, AgentRegistry registry, EventLoopGroup group, List<AutoCloseable> parts) {
            Telemetry telemetry = Telemetry.create(
                    Telemetry.limitTagValues("underpass.", "service", MAX_LABEL_VALUES),
                    Telemetry.limitTagValues("underpass.", "endpoint", MAX_LABEL_VALUES),
                    Telemetry.limitTagValues("underpass.", "target", MAX_LABEL_VALUES));
            parts.add(telemetry);
            // Audit records of consumer connections (ADR 0014): written off the event loops, and flushed on
            // close after the event loops stop and before the store closes; then the chains' heads are logged.
            parts.add(AuditHeadLog.start(cp.audit().events(), AuditHeadLog.DEFAULT_PERIOD));
            ConnectionAudit audit =
                    ConnectionAudit.start(cp.audit(), telemetry.registry(), ConnectionAudit.DEFAULT_CAPACITY);
            parts.add(audit);
            GatewayMetrics metrics = new GatewayMetrics(
                    telemetry.registry(), () -> registry.all().size());
            return new Observability(
                    telemetry, metrics, new ConnectionReports(metrics, audit, repeated(GatewayLog.CONNECTIONS, group)));
        }

        OpsServer serve(HostAndPort listen, List<Probe> probes) throws IOException {
            return OpsServer.start(new InetSocketAddress(listen.host(), listen.port()), telemetry.registry(), probes);
        }
    }

    /** The agent port: agent links, their authentication and enrollment, and the health checks pushed to them. */
    private record AgentSide(AgentServer server, HealthCheckPush healthChecks) {
        static AgentSide build(
                GatewayConfig config,
                ControlPlane cp,
                GatewayKeys.Loaded keys,
                SslContext tls,
                AuthFailures authFailures,
                AgentRegistry registry,
                Observability seen,
                EventLoopGroup group,
                PeerNodes peers,
                AgentListeners listeners,
                List<AutoCloseable> parts) {
            // Token checks wait on the store: a few threads and a bounded queue, so that a flood of
            // agent links is refused with 503 instead of starving the API of store connections.
            ThreadPoolExecutor verifier = boundedPool("underpass-auth-");
            parts.add(verifier::shutdownNow);
            HealthCheckPush healthChecks = new HealthCheckPush(cp.services()::healthChecks, registry, seen.metrics());
            parts.add(healthChecks);
            TrustedIssuers trustedIssuers = new TrustedIssuers(config.oidcIssuers(), IssuerKeys.Settings.DEFAULTS);
            AgentAuthenticator credentials = new AgentAuthenticator(
                    cp.agentTokens(),
                    cp.agentIdentities(),
                    new AgentJwtVerifier(trustedIssuers, cp.agentIdentities()::binding, Clock.systemUTC()),
                    authFailures);
            AgentServer server = new AgentServer(
                    tls,
                    new AgentStreams(
                            credentials,
                            new AgentCertificates(cp.agentEnrollments(), keys.agentCa()),
                            verifier,
                            registry,
                            session -> {
                                healthChecks.advertised(session);
                                listeners.advertised(session);
                            },
                            seen.reports(),
                            repeated(GatewayLog.SESSIONS, group),
                            peers,
                            listeners),
                    config.heartbeatTimeout().toMillis(),
                    config.limits().streamsPerAgent());
            parts.add(server::close);
            return new AgentSide(server, healthChecks);
        }

        InetSocketAddress start(GatewayConfig config, EventLoopGroup group) throws InterruptedException {
            healthChecks.start();
            HostAndPort listen = config.agentListenAddress();
            InetSocketAddress address = server.bind(group, new InetSocketAddress(listen.host(), listen.port()));
            log.info(
                    "agent port listening on {} (TLS 1.3, {} transport, {} TLS)",
                    address,
                    Transport.name(),
                    Tls.provider());
            return address;
        }
    }

    /** Where consumers come in: endpoint ports that follow the store, the forward proxy, the TLS listener, DNS. */
    private record ConsumerSide(
            EndpointPorts ports,
            AgentListeners listeners,
            ConsumerRoutes routes,
            EndpointProvisioner provisioner,
            ForwardProxy proxy,
            SniListener sni) {
        static ConsumerSide build(
                GatewayConfig config,
                ControlPlane cp,
                AgentRegistry registry,
                Observability seen,
                EventLoopGroup group,
                List<AutoCloseable> parts) {
            ConsumerLimit limit = new ConsumerLimit(config.limits().connectionsPerConsumer());
            EndpointPorts ports = new EndpointPorts(
                    registry, config.dialTimeout(), seen.reports(), limit, EndpointPorts.WAIT_FOR_AGENTS_AFTER_START);
            parts.add(ports::close);
            ConsumerRoutes routes = new ConsumerRoutes();
            AgentListeners listeners = new AgentListeners(ports, routes);
            listeners.start(group);
            parts.add(listeners);
            EndpointProvisioner provisioner = new EndpointProvisioner(
                    cp.endpoints(),
                    ports,
                    routes,
                    config.sniServicePort(),
                    group,
                    config.endpointBind(),
                    config.endpointPortRange(),
                    config.connectionRequestTtl());
            parts.add(provisioner);
            // Consumers' keys and names are checked on their own bounded pool: a flood of bad proxy
            // credentials must not hold up agents' token checks.
            ThreadPoolExecutor proxyChecks = boundedPool("underpass-proxy-checks-");
            parts.add(proxyChecks::shutdownNow);
            ProxyChecks checks = new ProxyChecks(cp.apiKeys(), cp.endpoints(), proxyChecks, limit, seen.reports());
            // Consumers' refusals, on the proxy and the TLS listener: one line per source and interval.
            RepeatedEvents refusals = repeated(GatewayLog.PROXY, group);
            ForwardProxy proxy = new ForwardProxy(
                    checks,
                    routes,
                    new Egress(new EgressPolicy(config.egressAllow()), config.dialTimeout(), proxyChecks),
                    refusals);
            parts.add(proxy);
            SniListener sni = new SniListener(routes, refusals);
            parts.add(sni);
            return new ConsumerSide(ports, listeners, routes, provisioner, proxy, sni);
        }

        /**
         * Names of endpoints with a TLS port answer with the TLS listener's address: a consumer that
         * resolves a name there and connects to the TLS port reaches the endpoint by its server name.
         * Other endpoints' names answer with where their ports listen (ssh -p PORT NAME).
         */
        void startDns(GatewayConfig config, EventLoopGroup group, List<AutoCloseable> parts) throws Exception {
            if (config.dnsListenAddress() == null) {
                return;
            }
            List<InetAddress> tlsListener = List.of(InetAddress.getByName(config.dnsAnswerHost()));
            List<InetAddress> endpointPorts = List.of(InetAddress.getByName(config.consumerHost()));
            PrivateDnsServer dns = new PrivateDnsServer(
                    name -> routes.findByServerName(name) != null
                            ? tlsListener
                            : routes.isEndpointName(name) ? endpointPorts : List.of(),
                    config.endpointDomain(),
                    config.dnsForwardAddress());
            parts.add(dns);
            HostAndPort listen = config.dnsListenAddress();
            dns.bind(group, new InetSocketAddress(listen.host(), listen.port()));
        }
    }

    /**
     * What the control plane asks of the agent sessions (presence and health of targets, for
     * diagnosis) and tells them (a revoked credential ends its sessions).
     */
    private static ControlPlane.DataPlane dataPlane(
            AgentRegistry registry, String nodeId, PeerView peers, AtomicReference<ChangeFeed> feed) {
        return new ControlPlane.DataPlane(
                (account, targets) -> {
                    // Every node's sessions: a node without one carries the connection through another.
                    List<HostAndPort> addresses =
                            targets.stream().map(HostAndPort::parse).toList();
                    return registry.sessionsServing(account, addresses) + peers.sessionsServing(account, addresses);
                },
                HealthCheckPush.reports(registry),
                id -> {
                    endSessionsOf(registry, id);
                    ChangeFeed f = feed.get();
                    if (f != null) {
                        f.credentialRevoked(id); // the other nodes' sessions of it end too
                    }
                },
                (account, endpointId, serviceRef) -> {
                    // Every node's: the consumer's agents may be linked to any of them.
                    List<AgentListenerViews.Hosted> hosted = new ArrayList<>();
                    registry.listening(account).stream()
                            .filter(l -> l.isFor(endpointId, serviceRef))
                            .forEach(l -> hosted.add(l.on(nodeId)));
                    hosted.addAll(peers.hosting(account, endpointId, serviceRef));
                    return hosted;
                });
    }

    /** Ends the sessions of agent credential {@code id}, which was revoked or deleted. */
    private static void endSessionsOf(AgentRegistry registry, String id) {
        registry.closeSessionsOf(
                id,
                id.startsWith(AgentIdentities.ID_PREFIX)
                        ? "its agent identity was deleted"
                        : id.startsWith(AgentEnrollments.CERTIFICATE_ID_PREFIX)
                                ? "its agent certificate was revoked"
                                : "its agent token was revoked");
    }

    /** This node's id: configured, else generated on first start and kept in the data directory. */
    private static String nodeId(GatewayConfig config, Path dataDir) throws IOException {
        if (config.cluster() != null && config.cluster().nodeId() != null) {
            return config.cluster().nodeId();
        }
        Path file = dataDir.resolve(GatewayConfig.NODE_ID_FILE);
        if (Files.exists(file)) {
            String id = Files.readString(file).trim();
            if (!id.isEmpty()) {
                return id;
            }
        }
        String id = "node-" + java.util.HexFormat.of().toHexDigits(new java.security.SecureRandom().nextInt());
        Files.createDirectories(dataDir);
        Files.writeString(file, id + "\n");
        return id;
    }

    /** The data plane follows the store: endpoint changes open and close ports and push health checks; tokens expire. */
    private static void follow(
            ControlPlane cp,
            ConsumerSide consumers,
            AgentSide agents,
            AgentRegistry registry,
            List<AutoCloseable> parts) {
        cp.onEndpointChange(consumers.provisioner()::changed);
        cp.onEndpointChange(agents.healthChecks()::changed);
        // Tokens also stop working when they expire (the end of a rotation's grace period).
        ScheduledExecutorService expiry = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("underpass-token-expiry").daemon().factory());
        parts.add(expiry::shutdownNow);
        expiry.scheduleWithFixedDelay(
                () -> endExpiredSessions(cp, registry), TOKEN_CHECK_SECONDS, TOKEN_CHECK_SECONDS, TimeUnit.SECONDS);
    }

    /** Something that binds a port on the group. */
    private interface Binder {
        InetSocketAddress bind(EventLoopGroup group, InetSocketAddress address) throws InterruptedException;
    }

    private static InetSocketAddress bind(
            String whatOn, Binder binder, EventLoopGroup group, HostAndPort listen, String how)
            throws InterruptedException {
        InetSocketAddress address = binder.bind(group, new InetSocketAddress(listen.host(), listen.port()));
        log.info("{} {} {}", whatOn, address, how);
        return address;
    }

    /** A few threads and a bounded queue for work that waits on the store. */
    private static ThreadPoolExecutor boundedPool(String name) {
        return new ThreadPoolExecutor(
                2,
                2,
                30,
                TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(256),
                Thread.ofPlatform().name(name, 0).daemon().factory());
    }

    private static RepeatedEvents repeated(org.slf4j.Logger log, EventLoopGroup group) {
        return new RepeatedEvents(log, RepeatedEvents.DEFAULT_INTERVAL, RepeatedEvents.DEFAULT_MAX_KEYS, group);
    }

    /**
     * On a fresh store: creates the operator account and writes its first key to a file only the
     * owner can read, in one transaction (if the file cannot be written, nothing is created).
     */
    private static void writeFirstKey(ControlPlane cp, Path dataDir) throws IOException {
        Path file = dataDir.resolve(ADMIN_KEY_FILE);
        var created = cp.accounts().bootstrap(key -> {
            Files.createDirectories(dataDir);
            Files.deleteIfExists(file);
            try {
                Files.createFile(
                        file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException notPosix) {
                Files.createFile(file);
                log.warn("{}: this file system has no POSIX permissions; restrict access to the file yourself", file);
            }
            Files.writeString(file, key + "\n", StandardOpenOption.TRUNCATE_EXISTING);
        });
        created.ifPresent(c -> log.info(
                "first start: created account '{}' with owner '{}'; its API key ({}) is in {} "
                        + "(readable only by you; use it with 'underpass login --key-file {}', then keep it safe or delete "
                        + "the file)",
                Accounts.OPERATOR_ACCOUNT,
                Accounts.OPERATOR_USER,
                c.ownerKey().apiKey().id(),
                file,
                file));
    }

    private static void endExpiredSessions(ControlPlane cp, AgentRegistry registry) {
        try {
            // Sessions of agent identities are not agent tokens: they end when the identity is deleted.
            var ids = registry.tokenIds();
            var identities = ids.stream()
                    .filter(id -> id.startsWith(AgentIdentities.ID_PREFIX))
                    .toList();
            ids.removeAll(identities);
            // Sessions of client certificates end when the certificate is revoked (at once) or expires.
            var certificates = ids.stream()
                    .filter(id -> id.startsWith(AgentEnrollments.CERTIFICATE_ID_PREFIX))
                    .toList();
            ids.removeAll(certificates);
            for (String id : cp.agentEnrollments().inactive(certificates)) {
                registry.closeSessionsOf(id, "its agent certificate expired or was revoked");
            }
            for (String id : cp.agentTokens().inactive(ids)) {
                registry.closeSessionsOf(id, "its agent token expired");
            }
            for (String id : cp.agentIdentities().inactive(identities)) {
                registry.closeSessionsOf(id, "its agent identity was deleted");
            }
        } catch (RuntimeException e) {
            log.warn(
                    "checking the agent tokens of live sessions failed, retried in {}s: {}",
                    TOKEN_CHECK_SECONDS,
                    e.toString());
        }
    }

    private static void closeAll(List<AutoCloseable> parts) {
        for (AutoCloseable part : parts.reversed()) {
            try {
                part.close();
            } catch (Exception e) {
                log.warn("while stopping: {}", e.toString());
            }
        }
    }

    public InetSocketAddress agentAddress() {
        return agentAddress;
    }

    public InetSocketAddress apiAddress() {
        return apiAddress;
    }

    /** Where /metrics, /healthz and /readyz are served. */
    public InetSocketAddress metricsAddress() {
        return metricsAddress;
    }

    public InetSocketAddress proxyAddress() {
        return proxyAddress;
    }

    /** The generated CA certificate, or null when the operator configured the certificate. */
    public Path caFile() {
        return caFile;
    }

    public ControlPlane controlPlane() {
        return controlPlane;
    }

    /**
     * Reports not ready (for {@code drainNotReadySeconds} before anything else, while still taking
     * connections), stops taking consumers (endpoint ports, proxy, TLS listener) and waits, up to the configured
     * drain timeout, for live connections to end; agent sessions stay up meanwhile so that they
     * can. {@link #close()} then ends what is left.
     */
    public void drain() throws InterruptedException {
        draining.set(true);
        node.draining();
        if (drainNotReady.isPositive()) {
            log.info(
                    "draining: not ready from now on, still taking connections for {}s so that load balancers stop sending first",
                    drainNotReady.toSeconds());
            Thread.sleep(drainNotReady.toMillis());
        }
        int told = registry.gatewayStopping(AGENT_RECONNECT);
        log.info(
                "told {} agent session(s) that the gateway is stopping (reconnect about every {} ms)",
                told,
                AGENT_RECONNECT.toMillis());
        entrances.provisioner().close(); // it must not open endpoint ports again
        entrances.proxy().close();
        entrances.sni().close();
        entrances.ports().stopAccepting();
        Drain.await("gateway", entrances.ports()::connectionCount, drainTimeout, log);
    }

    @Override
    public void close() {
        log.info("gateway stopping");
        closeAll(parts);
        log.info("gateway stopped");
    }
}
