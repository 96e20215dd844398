package dev.underpass.gateway;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.gateway.audit.ConnectionAudit;
import dev.underpass.gateway.consumer.ConsumerLimit;
import dev.underpass.gateway.consumer.ConsumerRoutes;
import dev.underpass.gateway.consumer.EndpointPorts;
import dev.underpass.gateway.consumer.proxy.Egress;
import dev.underpass.gateway.consumer.proxy.EgressPolicy;
import dev.underpass.gateway.consumer.proxy.ProxyChecks;
import dev.underpass.gateway.events.ConnectionEvents;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.gateway.link.AgentRegistry;
import dev.underpass.gateway.observe.ConnectionReports;
import dev.underpass.gateway.observe.GatewayLog;
import dev.underpass.gateway.observe.GatewayMetrics;
import dev.underpass.protocol.Transport;
import dev.underpass.telemetry.RepeatedEvents;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the consumer-facing handshakes (forward proxy, TLS listener) talk to in a fuzz test: a
 * real control plane on an in-memory store with account {@value #ACCOUNT}, whose API key is the
 * fixed {@link #KEY} (so that seed inputs can carry it), and consumer routes that lead
 * {@value #ENDPOINT_NAME} ports 443 and 80 to a real endpoint listener without agents (a
 * connection handed to it is reset). Store checks run on the calling thread, the limits on
 * failed authentication attempts never refuse (see {@link #AUTH_FAILURE_CLOCK_STEP}), and name
 * resolution for the egress policy's {@value #EGRESS_PATTERN} is always "busy", so that nothing
 * leaves the machine.
 */
public final class GatewayFuzzFixture implements AutoCloseable {
    static final String ACCOUNT = "fuzz";
    /** The account owner's key; the store holds only its SHA-256. */
    static final String KEY = "upk_fuzz-proxy-key";
    /** {@code Proxy-Authorization: Basic} value with {@link #KEY} as the password. */
    public static final String BASIC = Base64.getEncoder().encodeToString((":" + KEY).getBytes(StandardCharsets.UTF_8));

    public static final String ENDPOINT_NAME = "ep.fuzz.test";
    static final String EGRESS_PATTERN = "*.egress.test:*";

    /**
     * The limits on failed authentication attempts see a clock that moves on by more than their
     * window at each look, so they never refuse: the outcome of an input must not depend on the
     * inputs before it (their counting still runs).
     */
    private static final long AUTH_FAILURE_CLOCK_STEP =
            AuthFailures.Limits.DEFAULTS.window().toNanos() + 1;

    private final AtomicLong failureClock = new AtomicLong();

    final Store store;
    final ControlPlane cp;
    final EventLoopGroup group;
    final EndpointPorts listeners;
    public final ConsumerRoutes routes = new ConsumerRoutes();
    public final ProxyChecks checks;
    public final Egress egress;

    /** Reports of consumer connections to the log and to metrics no one reads, with no audit. */
    public static ConnectionEvents reports() {
        return new ConnectionReports(
                new GatewayMetrics(new SimpleMeterRegistry(), () -> 0),
                ConnectionAudit.OFF,
                new RepeatedEvents(GatewayLog.CONNECTIONS, RepeatedEvents.DEFAULT_INTERVAL, 100, null));
    }

    public GatewayFuzzFixture() throws InterruptedException {
        store = Store.open(StoreConfig.inMemory("fuzz-" + UUID.randomUUID()));
        try {
            cp = new ControlPlane(
                    store,
                    new ControlPlane.Settings(
                            ControlPlane.Settings.DEFAULT_DOMAIN,
                            "gw.fuzz.test",
                            ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                            null),
                    Clock.fixed(Instant.parse("2030-01-01T00:00:00Z"), ZoneOffset.UTC),
                    name -> List.of(),
                    new AuthFailures(
                            AuthFailures.Limits.DEFAULTS, () -> failureClock.addAndGet(AUTH_FAILURE_CLOCK_STEP)));
            String operatorKey =
                    cp.accounts().bootstrap().orElseThrow().ownerKey().key();
            Principal operator = cp.apiKeys().authenticate(operatorKey);
            String keyId = cp.accounts()
                    .create(operator, new Accounts.CreateRequest(ACCOUNT, null))
                    .ownerKey()
                    .apiKey()
                    .id();
            store.jdbi()
                    .useHandle(h -> h.createUpdate("update api_keys set secret_sha256 = :h where id = :id")
                            .bind("h", Secrets.sha256Hex(KEY))
                            .bind("id", keyId)
                            .execute());
            group = Transport.group("fuzz");
            AgentRegistry agents = new AgentRegistry();
            listeners = new EndpointPorts(
                    agents,
                    Duration.ofSeconds(5),
                    reports(),
                    new ConsumerLimit(GatewayConfig.Limits.DEFAULT_CONNECTIONS_PER_CONSUMER),
                    Duration.ZERO);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
        EndpointPorts.BoundPort https = listen(443);
        EndpointPorts.BoundPort http = listen(80);
        routes.publish(
                Map.of(
                        new ConsumerRoutes.Key(ACCOUNT, ENDPOINT_NAME, 443),
                        https,
                        new ConsumerRoutes.Key(ACCOUNT, ENDPOINT_NAME, 80),
                        http),
                Map.of(ENDPOINT_NAME, https));
        checks = new ProxyChecks(
                cp.apiKeys(),
                cp.endpoints(),
                Runnable::run,
                new ConsumerLimit(GatewayConfig.Limits.DEFAULT_CONNECTIONS_PER_CONSUMER),
                reports());
        egress = new Egress(new EgressPolicy(List.of(EGRESS_PATTERN)), Duration.ofSeconds(1), r -> {
            throw new RejectedExecutionException("fuzzing: no name resolution");
        });
    }

    private EndpointPorts.BoundPort listen(int servicePort) throws InterruptedException {
        EndpointRoute route = new EndpointRoute(
                "ep-fuzz",
                ACCOUNT,
                "svc",
                ACCOUNT,
                servicePort,
                List.of(new EndpointRoute.Target(
                        new dev.underpass.protocol.HostAndPort("svc.internal", servicePort), "c")),
                EndpointRoute.Balancing.LEAST_OUTSTANDING,
                false);
        return listeners.bind(group, new InetSocketAddress("127.0.0.1", 0), route);
    }

    @Override
    public void close() {
        listeners.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        store.close();
    }
}
