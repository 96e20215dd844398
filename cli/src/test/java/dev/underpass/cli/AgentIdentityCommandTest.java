package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.ControlPlane;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@code underpass agent-identity create|list|delete} against the real API. */
class AgentIdentityCommandTest extends OperatorCliTest {
    static final String ISSUER = "https://token.actions.githubusercontent.com";

    @Override
    ControlPlane.Oidc oidc() {
        return new ControlPlane.Oidc(Set.of(ISSUER), null);
    }

    @Test
    void createListAndDeleteInTablesAndJson() throws Exception {
        Cli.Run created = operator.run(
                "agent-identity",
                "create",
                "ci",
                "--issuer",
                ISSUER,
                "--subject",
                "repo:acme/app:*",
                "--claim",
                "repository_owner=acme",
                "--claim",
                "environment=prod");
        assertThat(created.code()).as(created.err()).isZero();
        assertThat(created.out())
                .contains(
                        "issuer: " + ISSUER,
                        "subject: repo:acme/app:*",
                        "claims: environment=prod,repository_owner=acme",
                        "Run the agent with: underpass agent --identity wid-");
        String id = created.out()
                .lines()
                .filter(l -> l.startsWith("id: "))
                .findFirst()
                .orElseThrow()
                .substring(4);

        Cli.Run table = operator.run("agent-identity", "list");
        assertThat(table.out())
                .contains("ID", "ISSUER", "SUBJECT", id, "repo:acme/app:*", "environment=prod,repository_owner=acme");
        JsonNode json = ApiClient.JSON.readTree(
                operator.run("agent-identity", "list", "-o", "json").out());
        assertThat(json.at("/items/0/id").asText()).isEqualTo(id);
        assertThat(json.at("/items/0/claims/repository_owner").asText()).isEqualTo("acme");

        Cli.Run deleted = operator.run("agent-identity", "delete", id);
        assertThat(deleted.code()).as(deleted.err()).isZero();
        assertThat(deleted.out()).contains("deleted agent identity " + id + " (ci); its agent sessions ended");
        assertThat(operator.run("agent-identity", "list", "-o", "json").out()).doesNotContain(id);
        Cli.Run again = operator.run("agent-identity", "delete", id);
        assertThat(again.code()).isEqualTo(1);
        assertThat(again.err()).contains("agent identity " + id, "HTTP 404");
    }

    @Test
    void anUntrustedIssuerOrABadClaimIsRefusedClearly() {
        Cli.Run untrusted = operator.run(
                "agent-identity", "create", "ci", "--issuer", "https://evil.example.com", "--subject", "x");
        assertThat(untrusted.code()).isEqualTo(1);
        assertThat(untrusted.err())
                .contains("issuer: 'https://evil.example.com' (expected: one of the issuers this gateway " + "trusts: "
                        + ISSUER + ")");
        Cli.Run badClaim = operator.run(
                "agent-identity", "create", "ci", "--issuer", ISSUER, "--subject", "x", "--claim", "no-equals-sign");
        assertThat(badClaim.code()).isEqualTo(2);
        assertThat(badClaim.err()).contains("--claim: no-equals-sign (expected: NAME=VALUE");
    }
}
