package dev.underpass.cli;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.GatewayInfo;
import dev.underpass.controlplane.api.ApiServer;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.gateway.pki.GatewayCertificates;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Tls;
import dev.underpass.protocol.Transport;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The gateway's real control plane and HTTPS API on 127.0.0.1 port 0, over an in-memory store,
 * with a certificate from its own CA and the operator's first key.
 */
final class ApiFixture implements AutoCloseable {
    final ControlPlane controlPlane;
    /** What a fake gateway's agents report (service health): tests set it. */
    final AtomicReference<HealthReports> healthReports = new AtomicReference<>(HealthReports.NONE);

    final String gateway;
    final Path caFile;
    final String operatorKey;
    private final Store store;
    private final EventLoopGroup group;
    private final ApiServer server;

    private ApiFixture(Path dir, ControlPlane.Oidc oidc) throws Exception {
        GatewayCertificates certs = GatewayCertificates.ensure(dir.resolve("tls"), List.of("localhost", "127.0.0.1"));
        caFile = certs.caFile();
        store = Store.open(StoreConfig.inMemory("cli-" + UUID.randomUUID()));
        controlPlane = new ControlPlane(
                store,
                new ControlPlane.Settings(
                        ControlPlane.Settings.DEFAULT_DOMAIN,
                        "127.0.0.1",
                        ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                        null),
                Clock.systemUTC(),
                name -> List.of(),
                new AuthFailures(),
                new ControlPlane.DataPlane(
                        null, (account, checkId) -> healthReports.get().of(account, checkId), id -> {}),
                oidc);
        operatorKey =
                controlPlane.accounts().bootstrap().orElseThrow().ownerKey().key();
        group = Transport.group("cli-test");
        server = new ApiServer(
                controlPlane,
                Tls.httpsServer(
                        certs.certificateFile().toFile(), certs.privateKeyFile().toFile()));
        InetSocketAddress bound = server.bind(group, new InetSocketAddress("127.0.0.1", 0));
        gateway = "https://127.0.0.1:" + bound.getPort();
    }

    /** Starts the API; skips the test where the environment would override the CLI's stored login. */
    static ApiFixture start(Path dir) throws Exception {
        return start(dir, ControlPlane.Oidc.NONE);
    }

    /** As {@link #start(Path)}, with the control plane trusting {@code oidc}. */
    static ApiFixture start(Path dir, ControlPlane.Oidc oidc) throws Exception {
        for (String env : List.of(
                CliConfig.GATEWAY_ENV,
                CliConfig.KEY_ENV,
                CliConfig.CA_FILE_ENV,
                CliConfig.OIDC_TOKEN_FILE_ENV,
                CliConfig.ACCOUNT_ENV)) {
            assumeTrue(System.getenv(env) == null, env + " is set in this environment");
        }
        return new ApiFixture(dir, oidc);
    }

    /** Publishes a forward proxy at {@code proxy}, as a gateway does once it bound it ({@code GET /v1/gateway}). */
    void publishGateway(HostAndPort proxy) {
        controlPlane.gatewayInfo(GatewayInfo.of(proxy, controlPlane.settings().endpointDomain()));
    }

    /** The store behind the API, for tests that change rows behind its back (audit tampering). */
    Store store() {
        return store;
    }

    /** The operator's principal, for setting up many objects without a request each. */
    Principal operator() {
        return controlPlane.apiKeys().authenticate(operatorKey);
    }

    @Override
    public void close() {
        server.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        store.close();
    }
}
