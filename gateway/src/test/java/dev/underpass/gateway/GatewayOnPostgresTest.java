package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.tenancy.Accounts;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The production set-up: the gateway keeps its state in a real PostgreSQL (started by the test),
 * and a restarted gateway finds its accounts, services and endpoints, listening where they did.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class GatewayOnPostgresTest {
    static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    @Test
    void aRestartedGatewayFindsEverythingInPostgres() throws Exception {
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start()) {
            Path config = dir.resolve("gateway.yaml");
            Files.writeString(
                    config,
                    "agentListen: 127.0.0.1:0\napiListen: 127.0.0.1:0\nproxyListen: 127.0.0.1:0\nsniListen: 127.0.0.1:0\nmetricsListen: 127.0.0.1:0\nendpointPorts: 23000-23999\n"
                            + "store:\n  url: " + pg.getJdbcUrl("postgres", "postgres") + "\n  user: postgres\n");
            Path data = dir.resolve("data");
            String id;
            String acmeKey;
            int port;
            try (Gateway gateway = Gateway.start(GatewayConfig.load(config), data)) {
                ControlPlane cp = gateway.controlPlane();
                Principal operator = cp.apiKeys()
                        .authenticate(Files.readString(data.resolve(Gateway.ADMIN_KEY_FILE))
                                .trim());
                acmeKey = cp.accounts()
                        .create(operator, new Accounts.CreateRequest("acme", null))
                        .ownerKey()
                        .key();
                Principal acme = cp.apiKeys().authenticate(acmeKey);
                cp.services()
                        .create(
                                acme,
                                new Services.CreateRequest(
                                        "db",
                                        "a database",
                                        List.of(new Services.Listener("tcp", 5432, List.of("db.internal:5432"))),
                                        List.of(),
                                        false,
                                        null));
                id = cp.endpoints()
                        .create(acme, new Endpoints.CreateRequest("acme/db"))
                        .id();
                port = await(cp, acme, id).ports().getFirst().gatewayPort();
                assertThat(data.resolve("store"))
                        .as("no embedded database beside PostgreSQL")
                        .doesNotExist();
            }
            String firstKey = Files.readString(data.resolve(Gateway.ADMIN_KEY_FILE));

            try (Gateway gateway = Gateway.start(GatewayConfig.load(config), data)) {
                ControlPlane cp = gateway.controlPlane();
                assertThat(Files.readString(data.resolve(Gateway.ADMIN_KEY_FILE)))
                        .as("bootstrapped once")
                        .isEqualTo(firstKey);
                Principal operator = cp.apiKeys().authenticate(firstKey.trim());
                assertThat(cp.accounts().list(operator, Page.Request.first()).items())
                        .extracting(Accounts.View::name)
                        .containsExactly("operator", "acme");
                Principal acme = cp.apiKeys().authenticate(acmeKey);
                assertThat(cp.services().get(acme, "db").description()).isEqualTo("a database");
                assertThat(await(cp, acme, id).ports().getFirst().gatewayPort())
                        .as("the same gateway port")
                        .isEqualTo(port);
                try (Socket consumer = new Socket("127.0.0.1", port)) {
                    assertThat(consumer.isConnected())
                            .as("the endpoint listens again")
                            .isTrue();
                }
            }
        }
    }

    private static Endpoints.View await(ControlPlane cp, Principal p, String id) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Endpoints.View v = cp.endpoints().get(p, id);
        while (v.state() != EndpointState.AVAILABLE && System.nanoTime() < deadline) {
            Thread.sleep(50);
            v = cp.endpoints().get(p, id);
        }
        assertThat(v.state()).as("endpoint %s: %s", id, v.stateReason()).isEqualTo(EndpointState.AVAILABLE);
        return v;
    }
}
