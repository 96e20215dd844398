package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.UnderpassProcess;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The PrivateLink flow from the command line, with real gateway, agent and CLI processes: a
 * provider publishes a service, a consumer requests an endpoint, the provider accepts it and the
 * private target is reached; rejecting it closes the live connection and the listener; after a
 * gateway restart everything is as it was.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ControlPlaneTest {
    static final Duration WAIT = UnderpassProcess.DEFAULT_WAIT;

    @TempDir
    Path dir;

    final List<AutoCloseable> running = new ArrayList<>();
    UnderpassProcess gateway;
    int agentPort;
    int apiPort;
    int proxyPort;
    int gatewayStarts;

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : running.reversed()) {
            c.close();
        }
    }

    private void startGateway() throws Exception {
        // Below Linux's ephemeral ports (32768-60999): a client that keeps connecting to a free port in
        // that range can be given the same port as its own and connect to itself, holding the port, so
        // that a restarted gateway cannot bind its endpoint's recorded port again.
        int base = 20000 + ThreadLocalRandom.current().nextInt(12) * 1000;
        Path config = dir.resolve("gateway.yaml");
        Files.writeString(
                config,
                "agentListen: 127.0.0.1:" + agentPort + "\napiListen: 127.0.0.1:" + apiPort
                        + "\nproxyListen: 127.0.0.1:" + proxyPort
                        + "\nsniListen: 127.0.0.1:0\nmetricsListen: 127.0.0.1:0\nendpointPorts: " + base + "-"
                        + (base + 999) + "\n");
        gateway = UnderpassProcess.start(
                "gateway-" + ++gatewayStarts,
                dir,
                Map.of(),
                "gateway",
                "--config",
                config.toString(),
                "--data-dir",
                dir.resolve("data").toString());
        running.add(gateway);
        apiPort = Integer.parseInt(
                gateway.awaitLog("api listening on .*:(\\d+) ", WAIT).group(1));
        proxyPort = Integer.parseInt(
                gateway.awaitLog("forward proxy listening on .*:(\\d+) ", WAIT).group(1));
        agentPort = Integer.parseInt(
                gateway.awaitLog("agent port listening on .*:(\\d+) ", WAIT).group(1));
        gateway.awaitLog("gateway ready", WAIT);
    }

    private Cli login(String principal, Path keyFile) throws Exception {
        Cli cli = new Cli(dir, principal);
        cli.run(
                        "login",
                        "--gateway",
                        "https://localhost:" + apiPort,
                        "--ca-file",
                        dir.resolve("data/tls/ca.pem").toString(),
                        "--key-file",
                        keyFile.toString())
                .ok("login as " + principal);
        return cli;
    }

    /** A new account, and the CLI logged in as its owner. */
    private Cli account(Cli operator, String name) throws Exception {
        String key =
                operator.json("account", "create", name).at("/ownerKey/key").asText();
        assertThat(key).startsWith("upk_");
        Path file = dir.resolve(name + "-key");
        Files.writeString(file, key + "\n");
        return login(name, file);
    }

    private static JsonNode awaitState(Cli cli, String id, String state) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        JsonNode e = null;
        while (System.nanoTime() < deadline) {
            e = cli.json("endpoint", "show", id);
            if (state.equals(e.get("state").asText())) {
                return e;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("endpoint " + id + " not " + state + " within " + WAIT.toSeconds() + "s: " + e);
    }

    @Test
    void providerAcceptsThenRejectsAndTheGatewayRestartKeepsEverything() throws Exception {
        EchoServer echo = new EchoServer();
        running.add(echo);
        startGateway();
        Cli operator = login("operator", dir.resolve("data/admin-key"));
        Cli acme = account(operator, "acme");
        Cli platform = account(operator, "platform");

        // The provider: an agent token, the agent, a service.
        Path token = dir.resolve("acme-agent-token");
        acme.run("agent-token", "create", "acme-agent", "--out", token.toString())
                .ok("agent-token create");
        UnderpassProcess agent = UnderpassProcess.start(
                "agent",
                dir,
                Map.of(),
                "agent",
                "--gateway",
                "localhost:" + agentPort,
                "--token-file",
                token.toString(),
                "--ca-file",
                dir.resolve("data/tls/ca.pem").toString(),
                "--target",
                echo.address());
        running.add(agent);
        agent.awaitLog("session \\d+ established", WAIT);
        acme.run(
                        "service",
                        "create",
                        "echo",
                        "--listener",
                        "7=" + echo.address(),
                        "--allow",
                        "platform",
                        "--description",
                        "echo behind the agent")
                .ok("service create");

        // The consumer asks; the provider sees the request pending and accepts it.
        JsonNode created = platform.json("endpoint", "create", "acme/echo");
        String id = created.get("id").asText();
        assertThat(created.get("state").asText()).isEqualTo("pendingAcceptance");
        JsonNode pending = acme.json("endpoint", "list", "--side", "provider", "--state", "pendingAcceptance");
        assertThat(pending.toString()).contains(id);
        acme.run("endpoint", "accept", id, "--reason", "approved in the e2e test")
                .ok("endpoint accept");
        JsonNode available = awaitState(platform, id, "available");
        int port = available.at("/ports/0/gatewayPort").asInt();
        assertThat(Clients.echo(port, "through the endpoint".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo("through the endpoint".getBytes(StandardCharsets.UTF_8));

        // Live connections, one on the endpoint's port and one through the forward proxy by the
        // endpoint's name; then the provider rejects: both end, the listener goes.
        String name = available.at("/dnsNames/0").asText();
        try (Socket live = Clients.connect(port);
                Socket proxied = proxied(name + ":7")) {
            for (Socket s : List.of(live, proxied)) {
                s.getOutputStream().write("ping".getBytes(StandardCharsets.UTF_8));
                assertThat(s.getInputStream().readNBytes(4)).isEqualTo("ping".getBytes(StandardCharsets.UTF_8));
            }
            acme.run("endpoint", "reject", id, "--reason", "no longer needed").ok("endpoint reject");
            assertThat(endOf(live)).as("the live connection ends").isTrue();
            assertThat(endOf(proxied)).as("the proxied connection ends").isTrue();
        }
        gateway.awaitLog("endpoint " + id + " port 7 closed .* 2 live connection\\(s\\) reset", WAIT);
        assertThat(refused(port))
                .as("nobody listens on the endpoint's port any more")
                .isTrue();
        JsonNode rejected = platform.json("endpoint", "show", id);
        assertThat(rejected.get("state").asText()).isEqualTo("rejected");
        assertThat(rejected.get("events"))
                .extracting(e -> e.get("to").asText())
                .containsExactly("pendingAcceptance", "pending", "available", "rejected");
        assertThat(rejected.get("events").get(3).get("actor").asText())
                .as("the consumer sees which account decided, not its users or keys")
                .isEqualTo("account acme");
        assertThat(acme.json("endpoint", "show", id)
                        .get("events")
                        .get(3)
                        .get("actor")
                        .asText())
                .startsWith("owner@acme (key key-");
        assertThat(rejected.get("events").get(3).get("reason").asText()).isEqualTo("no longer needed");

        // A second service without acceptance: available at once.
        acme.run(
                        "service",
                        "create",
                        "echo2",
                        "--listener",
                        "7=" + echo.address(),
                        "--allow",
                        "platform",
                        "--acceptance-required=false")
                .ok("service create echo2");
        String id2 = platform.json("endpoint", "create", "acme/echo2").get("id").asText();
        int port2 = awaitState(platform, id2, "available")
                .at("/ports/0/gatewayPort")
                .asInt();

        JsonNode servicesBefore = acme.json("service", "list");
        JsonNode endpointBefore = platform.json("endpoint", "show", id);
        JsonNode tokensBefore = acme.json("agent-token", "list");

        gateway.close();
        startGateway();

        assertThat(acme.json("service", "list")).isEqualTo(servicesBefore);
        assertThat(platform.json("endpoint", "show", id)).isEqualTo(endpointBefore);
        assertThat(acme.json("agent-token", "list").findValuesAsText("id"))
                .isEqualTo(tokensBefore.findValuesAsText("id"));
        JsonNode after = awaitState(platform, id2, "available");
        assertThat(after.at("/ports/0/gatewayPort").asInt())
                .as("the same gateway port after restart")
                .isEqualTo(port2);
        agent.awaitLog("session \\d+ established", 2, WAIT);
        byte[] payload = "after restart".getBytes(StandardCharsets.UTF_8);
        assertThat(echoWhenReady(port2, payload)).isEqualTo(payload);
    }

    /** A tunnel through the gateway's forward proxy (CONNECT with platform's key), past its answer. */
    private Socket proxied(String destination) throws IOException {
        String key = Files.readString(dir.resolve("platform-key")).trim();
        Socket s = new Socket("127.0.0.1", proxyPort);
        s.setSoTimeout((int) WAIT.toMillis());
        String auth = java.util.Base64.getEncoder().encodeToString(("runner:" + key).getBytes(StandardCharsets.UTF_8));
        s.getOutputStream()
                .write(("CONNECT " + destination + " HTTP/1.1\r\nProxy-Authorization: Basic " + auth + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
        byte[] answer = s.getInputStream().readNBytes("HTTP/1.1 200 Connection established\r\n\r\n".length());
        assertThat(new String(answer, StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 200");
        return s;
    }

    /** True when the peer ends the connection (EOF or reset) within {@link #WAIT}. */
    private static boolean endOf(Socket s) throws IOException {
        s.setSoTimeout((int) WAIT.toMillis());
        InputStream in = s.getInputStream();
        try {
            return in.read() == -1;
        } catch (SocketException reset) {
            return true;
        }
    }

    private static boolean refused(int port) {
        try (Socket s = new Socket("127.0.0.1", port)) {
            return false;
        } catch (ConnectException expected) {
            return true;
        } catch (IOException other) {
            return false;
        }
    }

    /** Echo through the endpoint, retrying (bounded) while the agent's new session settles in. */
    private static byte[] echoWhenReady(int port, byte[] payload) throws Exception {
        AssertionError last = null;
        for (int attempt = 0; attempt < 50; attempt++) {
            try {
                return Clients.echo(port, payload);
            } catch (IOException | AssertionError e) {
                last = new AssertionError("echo attempt " + attempt, e);
                Thread.sleep(200);
            }
        }
        throw last;
    }
}
