package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.tenancy.Accounts;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The gateway's listeners follow the store, also when a port cannot be had. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class EndpointProvisionerTest {
    static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    @Test
    void anEndpointWithoutAUsablePortFailsWithTheReasonAndCanBeDeleted() throws Exception {
        try (ServerSocket blocker = new ServerSocket()) {
            blocker.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = blocker.getLocalPort();
            GatewayConfig config = GatewayConfig.load(write(
                    "agentListen: 127.0.0.1:0\napiListen: 127.0.0.1:0\nproxyListen: 127.0.0.1:0\nsniListen: 127.0.0.1:0\nmetricsListen: 127.0.0.1:0\n"
                            + "endpointPorts: " + port + "-" + port + "\n"));
            try (Gateway gateway = Gateway.start(config, dir.resolve("data"))) {
                ControlPlane cp = gateway.controlPlane();
                Principal operator = cp.apiKeys()
                        .authenticate(Files.readString(dir.resolve("data").resolve(Gateway.ADMIN_KEY_FILE))
                                .trim());
                Principal acme = cp.apiKeys()
                        .authenticate(cp.accounts()
                                .create(operator, new Accounts.CreateRequest("acme", null))
                                .ownerKey()
                                .key());
                cp.services()
                        .create(
                                acme,
                                new Services.CreateRequest(
                                        "db",
                                        null,
                                        List.of(new Services.Listener("tcp", 5432, List.of("db.internal:5432"))),
                                        List.of(),
                                        false,
                                        null));

                String id = cp.endpoints()
                        .create(acme, new Endpoints.CreateRequest("acme/db"))
                        .id();

                Endpoints.View failed = await(cp, acme, id, EndpointState.FAILED);
                assertThat(failed.stateReason())
                        .contains("no usable gateway port in " + port + "-" + port)
                        .contains("127.0.0.1:" + port);
                assertThat(failed.events())
                        .last()
                        .satisfies(e -> assertThat(e.actor()).isEqualTo(Endpoints.GATEWAY));
                cp.endpoints().delete(acme, id);
                await(cp, acme, id, EndpointState.DELETED);
            }
        }
    }

    private Path write(String yaml) throws Exception {
        Path file = dir.resolve("gateway.yaml");
        Files.writeString(file, yaml);
        return file;
    }

    private static Endpoints.View await(ControlPlane cp, Principal p, String id, EndpointState state)
            throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Endpoints.View v = cp.endpoints().get(p, id);
        while (v.state() != state && System.nanoTime() < deadline) {
            Thread.sleep(50);
            v = cp.endpoints().get(p, id);
        }
        assertThat(v.state()).as("endpoint %s: %s", id, v.stateReason()).isEqualTo(state);
        return v;
    }
}
