package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.nimbusds.jwt.JWTClaimsSet;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.OidcIssuerServer;
import dev.underpass.testkit.UnderpassProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * OIDC workload identity end to end, with real processes: the operator trusts an issuer (a test
 * issuer on loopback serving discovery and JWKS), acme's owner creates an agent identity with
 * the CLI, and the real agent, started with {@code --identity} and {@code --oidc-token-file}
 * and no stored token, serves traffic through an endpoint. The agent reads the token file at
 * every connect, so a refused (expired) token is replaced without restarting it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class WorkloadIdentityTest {
    static final String AUDIENCE = "underpass-e2e";
    static final String SUBJECT = "repo:acme/edge:ref:refs/heads/main";

    @TempDir
    static Path dir;

    static OidcIssuerServer issuer;
    static EchoServer echo;
    static Tunnel tunnel;

    @BeforeAll
    static void start() throws Exception {
        issuer = new OidcIssuerServer();
        echo = new EchoServer();
        tunnel = Tunnel.start(
                dir,
                Map.of("echo", echo.address()),
                List.of(echo.address()),
                "oidcIssuers:\n  - issuer: " + issuer.issuer() + "\n    audience: " + AUDIENCE + "\n");
    }

    @AfterAll
    static void stop() throws Exception {
        if (tunnel != null) {
            tunnel.close();
        }
        echo.close();
        issuer.close();
    }

    private static String jwt(Consumer<JWTClaimsSet.Builder> change) {
        return OidcIssuerServer.sign(
                issuer.claims(SUBJECT, AUDIENCE, b -> {
                    b.claim("repository_owner", "acme");
                    change.accept(b);
                }),
                issuer.key());
    }

    @Test
    void anAgentWithAnIdentityAndAJwtFileServesTrafficWithoutAStoredToken() throws Exception {
        Path acmeKey = Files.writeString(dir.resolve("acme-key"), tunnel.acmeKey() + "\n");
        Cli acme = new Cli(dir, "acme");
        acme.run(
                        "login",
                        "--gateway",
                        "https://localhost:" + tunnel.apiPort(),
                        "--ca-file",
                        tunnel.caFile().toString(),
                        "--key-file",
                        acmeKey.toString())
                .ok("login as acme");

        // An issuer the operator does not trust cannot be bound.
        Cli.Result untrusted = acme.run(
                "agent-identity", "create", "evil", "--issuer", "https://evil.example.com", "--subject", SUBJECT);
        assertThat(untrusted.exitCode()).isNotZero();
        assertThat(untrusted.err()).contains("issuer").contains(issuer.issuer());

        JsonNode created = acme.json(
                "agent-identity",
                "create",
                "edge",
                "--issuer",
                issuer.issuer(),
                "--subject",
                "repo:acme/edge:*",
                "--claim",
                "repository_owner=acme");
        String id = created.get("id").asText();
        assertThat(id).matches("wid-[0-9a-f]{16}");
        assertThat(created.get("claims").toString()).isEqualTo("{\"repository_owner\":\"acme\"}");
        assertThat(acme.json("agent-identity", "list").get("items").findValuesAsText("id"))
                .containsExactly(id);

        // Only the new agent serves the endpoint from now on.
        tunnel.agent().close();
        tunnel.gateway().awaitLog("agent=test-agent\\) closed after", Tunnel.WAIT);

        // It starts with an expired token: refused, clearly, on both sides; then its file gets a fresh one.
        String expired = jwt(b -> b.issueTime(Date.from(Instant.now().minus(Duration.ofHours(2))))
                .notBeforeTime(null)
                .expirationTime(Date.from(Instant.now().minus(Duration.ofHours(1)))));
        Path tokenFile = Files.writeString(dir.resolve("oidc-token"), expired + "\n");
        try (UnderpassProcess agent = tunnel.startAgentProcess(List.of(
                "agent",
                "--gateway",
                "localhost:" + tunnel.agentPort(),
                "--identity",
                id,
                "--oidc-token-file",
                tokenFile.toString(),
                "--ca-file",
                tunnel.caFile().toString(),
                "--name",
                "oidc-agent",
                "--target",
                echo.address()))) {
            agent.awaitLog(
                    "the gateway refused the session: 401 Unauthorized: OIDC token of identity " + id + " \\(issuer "
                            + issuer.issuer() + "\\) refused: expired at",
                    Tunnel.WAIT);
            tunnel.gateway().awaitLog("refused: OIDC token of identity " + id + " .*expired at", Tunnel.WAIT);

            String fresh = jwt(b -> {});
            Files.writeString(tokenFile, fresh + "\n");
            tunnel.gateway()
                    .awaitLog(
                            "\\(account=acme, agent identity \\S+ " + id + ", agent=oidc-agent\\) established",
                            Tunnel.WAIT);
            tunnel.gateway().awaitLog("agent=oidc-agent\\) advertised", Tunnel.WAIT);

            byte[] payload = new byte[64 * 1024];
            new java.util.Random(7).nextBytes(payload);
            assertThat(Clients.echo(tunnel.endpointPort("echo"), payload)).isEqualTo(payload);

            for (String secret : List.of(
                    expired,
                    fresh,
                    expired.substring(expired.lastIndexOf('.') + 1),
                    fresh.substring(fresh.lastIndexOf('.') + 1))) {
                assertThat(agent.output()).doesNotContain(secret);
                assertThat(tunnel.gateway().output()).doesNotContain(secret);
            }
            assertThat(acme.json("agent-identity", "list")
                            .at("/items/0/lastUsedAt")
                            .isTextual())
                    .as("last used")
                    .isTrue();
        }
    }
}
