package dev.underpass.agent;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.agent.health.HealthChecker;
import dev.underpass.agent.link.ClientCertificate;
import dev.underpass.agent.link.GatewayLink;
import dev.underpass.agent.link.GatewayLinks;
import dev.underpass.agent.listener.AgentListeners;
import dev.underpass.agent.metrics.AgentMetrics;
import dev.underpass.agent.target.TargetAddresses;
import dev.underpass.agent.target.TargetDialer;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.Drain;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.telemetry.OpsServer;
import dev.underpass.telemetry.Probe;
import dev.underpass.telemetry.Telemetry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running agent, assembled from its configuration: the {@link GatewayLinks} keep sessions with
 * the gateway up (with several of its nodes in a cluster), the {@link TargetDialer} carries the gateway's requests to the allowed targets,
 * the {@link HealthChecker} probes them, and an optional port serves metrics and probes. This is
 * what the CLI starts; every part receives its collaborators here, when it is built.
 *
 * <h2>Lifecycle</h2>
 * {@link #start()} connects in the background and reconnects until {@link #close()};
 * {@link #drain()} first lets live connections finish.
 */
public final class Agent implements AutoCloseable {
    /** The version this agent reports to the gateway. */
    public static final String VERSION = "0.1.0";

    private static final Logger log = LoggerFactory.getLogger("underpass.agent");

    private final AgentConfig config;
    private final Telemetry telemetry;
    /** Resolves targets' names, which blocks: a few threads and a bounded queue, never the event loop. */
    private final ThreadPoolExecutor resolver;

    private final TargetDialer dialer;
    private final GatewayLinks links;
    private final AgentListeners listeners;
    private final String description;
    private volatile OpsServer ops;
    private volatile boolean stopping;

    /**
     * Validates {@code config} and prepares TLS; connects only on {@link #start()}.
     *
     * @throws IllegalArgumentException listing every configuration problem
     */
    public Agent(AgentConfig config) throws IOException {
        this.config = Objects.requireNonNull(config, "config");
        List<String> errors = config.validate();
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("invalid agent configuration:\n  " + String.join("\n  ", errors));
        }
        HostAndPort gateway = config.gatewayAddress();
        String name = agentName(config);
        String token = config.resolveToken();
        var ssl = ClientCertificate.sslContext(config);
        var proxy = config.proxy() == null ? null : AgentConfig.ProxySettings.parse(config.proxy());
        var targets = new LinkedHashSet<>(config.targetAddresses());
        List<String> advertised = targets.stream().map(HostAndPort::toString).toList();
        var addresses = new TargetAddresses(config.targetNetworks(), TargetAddresses.Resolver.SYSTEM);

        this.telemetry = Telemetry.create();
        this.resolver = new ThreadPoolExecutor(
                4,
                4,
                30,
                TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(1024),
                Thread.ofPlatform().name("underpass-resolver-", 0).daemon().factory());
        AgentMetrics metrics = new AgentMetrics(telemetry.registry());
        this.dialer = new TargetDialer(targets, addresses, resolver, config.dialTimeout(), gateway.toString(), metrics);
        this.listeners = new AgentListeners(config.listeners(), this::connectSession, gateway.toString());
        var advertise = new ControlMessage.Advertise(VERSION, advertised, listeners.advertised());
        // Each link runs the health checks its gateway node sends, and reports to that node.
        this.links = new GatewayLinks(
                gateway,
                config.linkCount(),
                config.drainTimeout(),
                (address, onNodes) -> new GatewayLink(
                        config,
                        address,
                        onNodes,
                        name,
                        token,
                        ssl,
                        proxy,
                        advertise,
                        dialer,
                        new HealthChecker(targets, addresses, metrics::verdict),
                        listeners::update,
                        metrics));
        String networks = config.targetNetworks().isEmpty()
                ? "anywhere but to loopback, link-local or other special addresses"
                : "only into " + config.targetNetworks();
        this.description = "'" + name + "': gateway " + gateway + (proxy == null ? "" : " via proxy " + proxy) + ", "
                + advertised.size() + " target(s) allowed: " + advertised + "; names may lead " + networks
                + (config.listeners().isEmpty() ? "" : "; agent listeners " + config.listeners());
    }

    /**
     * Connects in the background; first opens the metrics and probes port if configured.
     *
     * @throws IOException when that port cannot be bound
     */
    public void start() throws IOException {
        HostAndPort listen = config.metricsListenAddress();
        if (listen != null) {
            ops = OpsServer.start(
                    new InetSocketAddress(listen.host(), listen.port()),
                    telemetry.registry(),
                    List.of(
                            new Probe(
                                    "session",
                                    () -> links.hasSession()
                                            ? Optional.empty()
                                            : Optional.of("no session with gateway " + config.gatewayAddress())),
                            new Probe(
                                    "draining",
                                    () -> stopping ? Optional.of("the agent is stopping") : Optional.empty())));
        }
        log.info("agent starting as {}", description);
        listeners.start();
        if (config.usesIdentity()) {
            log.info(
                    "authenticating as agent identity {} with the JWT read from {} at every connect",
                    config.identity(),
                    config.oidcTokenFile());
        }
        links.start();
    }

    /** A session to carry an agent listener's connection on: one of protocol version 3, or null. */
    private io.netty.handler.codec.http2.Http2StreamChannel connectSession() {
        return links.session(3);
    }

    /** Waits until a session is established (for tests, the demo and readiness). */
    public boolean awaitSession(Duration timeout) throws InterruptedException {
        return links.awaitSession(timeout);
    }

    /** The name the gateway shows for this agent: the configured one, else the host's name (looked up once). */
    private static String agentName(AgentConfig config) {
        if (config.name() != null) {
            return config.name();
        }
        String host = System.getenv("HOSTNAME");
        if (host != null && !host.isBlank()) {
            return host;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException unknown) {
            return "unnamed";
        }
    }

    /**
     * Stops taking new connections and lets live ones finish, up to the drain timeout: the
     * agent tells the gateway, which confirms once it routes nothing new here, and no longer
     * reconnects. {@link #close()} then ends what is left.
     */
    public void drain() throws InterruptedException {
        stopping = true;
        listeners.stopAccepting();
        if (links.drain()) {
            // Connections on agent listeners finish too: their streams are on the links being drained.
            Drain.await("agent", () -> dialer.active() + listeners.active(), config.drainTimeout(), log);
        }
    }

    @Override
    public void close() {
        stopping = true;
        listeners.close();
        links.close();
        if (ops != null) {
            ops.close();
        }
        resolver.shutdownNow();
        telemetry.close();
        log.info("agent stopped");
    }
}
