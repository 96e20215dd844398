package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.protocol.SecretBox;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.UnderpassProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutual-TLS enrollment with the real processes (ADR 0015): the provider's admin creates a
 * one-time token with the CLI, {@code underpass agent enroll} exchanges it over the agent port
 * for a client certificate (key generated and sealed on the agent host), the agent then runs
 * with {@code --client-cert}/{@code --client-key} and no token and serves consumers; the token
 * does not work twice, and revoking the certificate ends the agent's session.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AgentEnrollmentTest {
    @TempDir
    Path dir;

    @Test
    void anEnrolledAgentServesAnEndpointWithItsCertificateUntilRevoked() throws Exception {
        try (EchoServer echo = new EchoServer();
                Tunnel t = Tunnel.startWithoutAgent(dir)) {
            int port = t.publish("echo", List.of(Map.of("port", 1, "targets", List.of(echo.address()))));
            Path keyFile = Files.writeString(dir.resolve("acme-key"), t.acmeKey() + "\n");
            Cli admin = new Cli(dir, "acme");
            admin.run(
                            "login",
                            "--gateway",
                            "https://localhost:" + t.apiPort(),
                            "--ca-file",
                            t.caFile().toString(),
                            "--key-file",
                            keyFile.toString())
                    .ok("login");

            Path tokenFile = dir.resolve("enrollment-token");
            Cli.Result created = admin.run(
                            "agent-enrollment", "create", "dc1", "--expires-in", "10m", "--out", tokenFile.toString())
                    .ok("agent-enrollment create");
            String token = Files.readString(tokenFile).trim();
            assertThat(token).startsWith("upe_");
            assertThat(created.out()).contains("dc1").doesNotContain(token);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tokenFile)))
                    .isEqualTo("rw-------");

            // Enroll on the agent host, with a key to seal the client key at rest.
            Map<String, String> env = Map.of(SecretBox.KEY_ENV, SecretBox.newKeyText());
            Path out = dir.resolve("agent-tls");
            String[] enroll = {
                "agent",
                "enroll",
                "--gateway",
                "localhost:" + t.agentPort(),
                "--ca-file",
                t.caFile().toString(),
                "--enrollment-token-file",
                tokenFile.toString(),
                "--out",
                out.toString()
            };
            String certificateId;
            try (UnderpassProcess p = UnderpassProcess.start("enroll", dir, env, enroll)) {
                assertThat(p.awaitExit(Tunnel.WAIT)).as("enroll finished").isTrue();
                assertThat(p.exitValue()).as(p.output()).isZero();
                certificateId = p.awaitLog("enrolled as agent certificate (agc-[0-9a-f]{16})", Tunnel.WAIT)
                        .group(1);
                assertThat(p.output())
                        .contains("next: underpass agent --gateway")
                        .doesNotContain(token);
            }
            Path cert = out.resolve("client.pem");
            Path key = out.resolve("client-key.pem");
            assertThat(Files.readString(cert)).startsWith("-----BEGIN CERTIFICATE-----");
            assertThat(Files.readString(key)).startsWith(SecretBox.PREFIX).doesNotContain("PRIVATE KEY");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key)))
                    .isEqualTo("rw-------");
            t.gateway().awaitLog("agent enrollment from .*: issued certificate serial", Tunnel.WAIT);

            // The token worked once.
            try (UnderpassProcess again = UnderpassProcess.start("enroll-again", dir, env, enroll)) {
                assertThat(again.awaitExit(Tunnel.WAIT)).isTrue();
                assertThat(again.exitValue()).isNotZero();
                again.awaitLog("refused the enrollment \\(401\\): enrollment token already used", Tunnel.WAIT);
            }

            // The agent runs with its certificate and no token, and serves consumers.
            try (UnderpassProcess agent = UnderpassProcess.start(
                    "agent-mtls",
                    dir,
                    env,
                    "agent",
                    "--gateway",
                    "localhost:" + t.agentPort(),
                    "--ca-file",
                    t.caFile().toString(),
                    "--name",
                    "dc1-host",
                    "--client-cert",
                    cert.toString(),
                    "--client-key",
                    key.toString(),
                    "--target",
                    echo.address())) {
                t.gateway()
                        .awaitLog(
                                "account=acme, client certificate \\S+ agc-\\S+, agent=dc1-host\\) established",
                                Tunnel.WAIT);
                byte[] payload = "through an enrolled agent".getBytes();
                assertThat(Clients.echo(port, payload)).isEqualTo(payload);
                // Past the gateway's periodic check of live sessions' credentials (every 10 s), still served.
                t.gateway().awaitLog("agent=dc1-host\\) runs 1 health check", Tunnel.WAIT);
                Thread.sleep(Duration.ofSeconds(11));
                assertThat(t.gateway().output()).doesNotContain("dc1-host) ended");
                assertThat(Clients.echo(port, payload)).isEqualTo(payload);

                JsonNode listed = admin.json("agent-certificate", "list");
                assertThat(listed.at("/items/0/id").asText()).isEqualTo(certificateId);
                assertThat(listed.at("/items/0/status").asText()).isEqualTo("active");
                assertThat(admin.json("agent-certificate", "revoke", certificateId)
                                .get("status")
                                .asText())
                        .isEqualTo("revoked");
                agent.awaitLog(
                        "refused the session: 401 Unauthorized: agent certificate " + certificateId + " was revoked",
                        Tunnel.WAIT);
                assertThat(agent.isAlive())
                        .as("it keeps retrying, as with a revoked token")
                        .isTrue();
            }
            assertThat(t.gateway().output()).doesNotContain(token);
        }
    }

    @Test
    void aClientCertificateAndATokenTogetherAreAConfigurationError() throws Exception {
        Path cert = Files.writeString(dir.resolve("client.pem"), "x");
        Path key = Files.writeString(dir.resolve("client-key.pem"), "x");
        Path token = Files.writeString(dir.resolve("token"), "upa_x\n");
        try (UnderpassProcess agent = UnderpassProcess.start(
                "agent-both",
                dir,
                Map.of(),
                "agent",
                "--gateway",
                "localhost:1",
                "--token-file",
                token.toString(),
                "--client-cert",
                cert.toString(),
                "--client-key",
                key.toString(),
                "--target",
                "127.0.0.1:1")) {
            assertThat(agent.awaitExit(Tunnel.WAIT)).isTrue();
            assertThat(agent.exitValue()).isNotZero();
            agent.awaitLog("credentials: tokenFile and clientCert \\(expected: exactly one of them", Tunnel.WAIT);
        }
    }
}
