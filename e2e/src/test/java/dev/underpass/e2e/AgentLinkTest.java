package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.gateway.pki.GatewayCertificates;
import dev.underpass.testkit.ConnectProxy;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.UnderpassProcess;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent link: authentication, gateway verification, hostile bytes, the egress proxy and
 * heartbeats. Every refusal is a clear log line on both sides, and nothing crashes.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AgentLinkTest {
    @TempDir
    static Path dir;

    static EchoServer echo;
    static Tunnel tunnel;

    @BeforeAll
    static void start() throws Exception {
        echo = new EchoServer();
        tunnel = Tunnel.start(dir, Map.of("echo", echo.address()));
    }

    @AfterAll
    static void stop() throws Exception {
        tunnel.close();
        echo.close();
    }

    private static List<String> agentArgs(Path tokenFile, String... trust) {
        var args = new java.util.ArrayList<>(List.of(
                "agent",
                "--gateway",
                "localhost:" + tunnel.agentPort(),
                "--token-file",
                tokenFile.toString(),
                "--target",
                echo.address()));
        args.addAll(List.of(trust));
        return args;
    }

    private static void assertTunnelStillWorks() throws Exception {
        assertThat(tunnel.gateway().isAlive()).isTrue();
        assertThat(Clients.echo(tunnel.endpointPort("echo"), "alive".getBytes()))
                .isEqualTo("alive".getBytes());
    }

    @Test
    void aWrongTokenIsRefusedWithAClearErrorOnBothSides() throws Exception {
        Path badToken = Files.writeString(dir.resolve("bad-token"), "upa_not-a-real-token\n");
        try (UnderpassProcess agent = tunnel.startAgentProcess(
                agentArgs(badToken, "--ca-file", tunnel.caFile().toString()))) {
            agent.awaitLog(
                    "the gateway refused the session: 401 Unauthorized: agent token not recognised", Tunnel.WAIT);
            tunnel.gateway().awaitLog("refused: agent token not recognised", Tunnel.WAIT);
            assertThat(agent.output()).doesNotContain("upa_not-a-real-token");
            assertThat(tunnel.gateway().output()).doesNotContain("upa_not-a-real-token");
            assertThat(agent.isAlive()).isTrue(); // it keeps retrying with backoff
        }
        assertTunnelStillWorks();
    }

    @Test
    void anAgentRefusesAGatewayWhoseCertificateItDoesNotTrust() throws Exception {
        // A CA of another gateway, and a pin that matches nothing.
        Path otherCa = GatewayCertificates.ensure(dir.resolve("other-ca"), List.of("localhost"))
                .caFile();
        try (UnderpassProcess byCa =
                        tunnel.startAgentProcess(agentArgs(tunnel.tokenFile(), "--ca-file", otherCa.toString()));
                UnderpassProcess byPin =
                        tunnel.startAgentProcess(agentArgs(tunnel.tokenFile(), "--pin", "sha256:" + "ab".repeat(32)))) {
            byCa.awaitLog(
                    "TLS handshake failed: .*(PKIX|certificate|unable to find valid certification path)", Tunnel.WAIT);
            byPin.awaitLog(
                    "TLS handshake failed: .*matches no certificate of the chain against the pinned", Tunnel.WAIT);
            assertThat(byCa.output()).doesNotContain("session").doesNotContain("established");
        }
        tunnel.gateway().awaitLog("agent link from .* refused: TLS handshake failed", Tunnel.WAIT);
        assertTunnelStillWorks();
    }

    @Test
    void aPinOfTheRealCaDoesNotAcceptAnImpostorLeafPresentedWithThatCa() throws Exception {
        // The man in the middle has the public CA certificate, but not the CA's key: it signs its
        // own leaf with its own CA and appends the real CA certificate to the chain it presents.
        Path impostorDir = dir.resolve("impostor");
        var impostorCerts = GatewayCertificates.ensure(impostorDir, List.of("localhost", "127.0.0.1"));
        String pin = GatewayCertificates.fingerprint(tunnel.caFile());
        try (ImpostorGateway impostor = new ImpostorGateway(
                        impostorCerts.privateKeyFile(), List.of(impostorCerts.certificateFile(), tunnel.caFile()));
                UnderpassProcess agent = tunnel.startAgentProcess(List.of(
                        "agent",
                        "--gateway",
                        "localhost:" + impostor.port(),
                        "--token-file",
                        tunnel.tokenFile().toString(),
                        "--target",
                        echo.address(),
                        "--pin",
                        pin))) {
            agent.awaitLog("TLS handshake failed", Tunnel.WAIT);
            assertThat(impostor.completedHandshakes()).isZero();
            assertThat(agent.output()).doesNotContain("established");
        }
    }

    @Test
    void thePinnedFingerprintOfTheGatewayCaIsAccepted() throws Exception {
        String pin = GatewayCertificates.fingerprint(tunnel.caFile());
        try (UnderpassProcess agent =
                tunnel.startAgentProcess(agentArgs(tunnel.tokenFile(), "--pin", pin, "--name", "pinned"))) {
            agent.awaitLog("session \\d+ established", Tunnel.WAIT);
        }
    }

    @Test
    void garbageOnTheAgentPortIsRefusedAndChangesNothing() throws Exception {
        byte[] junk = new byte[64 * 1024];
        new Random(9).nextBytes(junk);
        for (byte[] payload : List.of(
                junk, "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes())) {
            try (Socket s = new Socket("127.0.0.1", tunnel.agentPort())) {
                s.setSoTimeout(30_000);
                OutputStream out = s.getOutputStream();
                try {
                    out.write(payload);
                } catch (java.io.IOException closedEarly) {
                    // the gateway may close before reading it all: that is a refusal too
                }
                InputStream in = s.getInputStream();
                try {
                    while (in.read() != -1) {
                        // an alert at most, then the close
                    }
                } catch (java.io.IOException reset) {
                    // closed with a reset: refused
                }
            }
        }
        tunnel.gateway().awaitLog("agent link from .* refused: TLS handshake failed", Tunnel.WAIT);
        assertTunnelStillWorks();
    }

    @Test
    void theAgentReachesTheGatewayThroughAnHttpConnectProxyAndDetectsADeadLink() throws Exception {
        try (ConnectProxy proxy = new ConnectProxy();
                UnderpassProcess agent = tunnel.startAgentProcess(agentArgs(
                        tunnel.tokenFile(),
                        "--ca-file",
                        tunnel.caFile().toString(),
                        "--proxy",
                        "http://" + proxy.address(),
                        "--name",
                        "proxied"))) {
            agent.awaitLog("session \\d+ established", Tunnel.WAIT);
            assertThat(proxy.connectTargets()).contains("localhost:" + tunnel.agentPort());
            long cut = System.nanoTime();
            proxy.freeze(); // the link goes silent without closing
            agent.awaitLog("no frame from the gateway within the heartbeat timeout", Tunnel.WAIT);
            tunnel.gateway()
                    .awaitLog("agent=proxied.*no frame from the agent within the heartbeat timeout", Tunnel.WAIT);
            long detectedMillis = (System.nanoTime() - cut) / 1_000_000;
            assertThat(detectedMillis).isLessThan(20_000);
        }
        assertTunnelStillWorks();
    }
}
