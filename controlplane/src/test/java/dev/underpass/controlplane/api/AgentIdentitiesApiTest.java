package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.ControlPlane;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Agent identities through the real HTTPS API: what an admin may bind (only issuers the
 * operator trusts, a subject that is not every subject, a few plain claims), each refusal a
 * 400 naming the field that changes nothing, and the audit records of creation and deletion.
 */
class AgentIdentitiesApiTest {
    static final String ISSUER = "https://token.actions.githubusercontent.com";
    static final String OTHER = "https://oidc.eks.example.com/id/ABC";

    @TempDir
    static Path dir;

    static ApiFixture api;
    static String owner;

    @BeforeAll
    static void setUp() throws Exception {
        api = ApiFixture.start(dir, new ControlPlane.Oidc(Set.of(ISSUER, OTHER), null));
        owner = api.ok(api.cp.operatorKey, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201)
                .at("/ownerKey/key")
                .asText();
    }

    @AfterAll
    static void tearDown() {
        api.close();
    }

    private static String body(String issuer, String subject, String claims) {
        return "{\"name\":\"ci\",\"issuer\":\"" + issuer + "\",\"subject\":\"" + subject + "\""
                + (claims == null ? "" : ",\"claims\":" + claims) + "}";
    }

    private static List<String> listed() {
        List<String> ids = new ArrayList<>();
        api.get(owner, "/v1/agent-identities")
                .get("items")
                .forEach(i -> ids.add(i.get("id").asText()));
        return ids;
    }

    @Test
    void nothingCanBeBoundWhereTheOperatorTrustsNoIssuer(@TempDir Path elsewhere) throws Exception {
        try (ApiFixture untrusting = ApiFixture.start(elsewhere)) {
            String key = untrusting
                    .ok(untrusting.cp.operatorKey, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201)
                    .at("/ownerKey/key")
                    .asText();
            assertThat(untrusting
                            .call(key, "POST", "/v1/agent-identities", body(ISSUER, "repo:acme/app:*", null))
                            .problem(400))
                    .contains("issuer: '" + ISSUER + "'")
                    .contains("this gateway trusts none")
                    .contains("oidcIssuers");
            assertThat(untrusting.get(key, "/v1/agent-identities").get("items")).isEmpty();
        }
    }

    @Test
    void onlyWhatTheOperatorTrustsAndASpecificSubjectCanBeBoundAndEveryRefusalNamesItsField() {
        List<String> before = listed();
        String untrusted = api.call(owner, "POST", "/v1/agent-identities", body("https://evil.example.com", "x", null))
                .problem(400);
        assertThat(untrusted)
                .contains("issuer: 'https://evil.example.com' (expected: one of the issuers this gateway trusts: "
                        + OTHER + ", " + ISSUER + ")");
        assertThat(api.call(owner, "POST", "/v1/agent-identities", body(ISSUER, "*", null))
                        .problem(400))
                .contains("subject: '*' (expected: not every subject of the issuer");
        assertThat(api.call(owner, "POST", "/v1/agent-identities", body(ISSUER, "repo:*:ref", null))
                        .problem(400))
                .contains("subject: 'repo:*:ref' (expected: the JWT's exact sub, or a prefix ending in ':*' or '/*'");
        // A prefix must end at a delimiter: repo:acme* would also match repo:acme-evil/x.
        for (String loose : List.of("repo:acme*", "system:serviceaccount:ci:deploy*", "a*")) {
            assertThat(api.call(owner, "POST", "/v1/agent-identities", body(ISSUER, loose, null))
                            .problem(400))
                    .as(loose)
                    .contains("subject: '" + loose + "' (expected: a prefix that ends at a delimiter, ':' or '/' "
                            + "right before the '*'");
        }
        assertThat(api.call(owner, "POST", "/v1/agent-identities", body(ISSUER, "", null))
                        .problem(400))
                .contains("subject: empty");
        assertThat(api.call(owner, "POST", "/v1/agent-identities", body(ISSUER, "x", "{\"aud\":\"other\"}"))
                        .problem(400))
                .contains("claims.aud: reserved");
        assertThat(api.call(owner, "POST", "/v1/agent-identities", body(ISSUER, "x", "{\"repository_owner\":\"\"}"))
                        .problem(400))
                .contains("claims.repository_owner: 0 characters");
        StringBuilder many = new StringBuilder("{");
        for (int i = 0; i < 9; i++) {
            many.append(i == 0 ? "" : ",").append("\"c").append(i).append("\":\"v\"");
        }
        assertThat(api.call(owner, "POST", "/v1/agent-identities", body(ISSUER, "x", many + "}"))
                        .problem(400))
                .contains("claims: 9 entries (expected: at most 8)");
        assertThat(api.call(owner, "POST", "/v1/agent-identities", "{\"name\":\"Bad Name\"}")
                        .problem(400))
                .contains("name: 'Bad Name'")
                .contains("issuer: missing")
                .contains("subject: missing");
        assertThat(listed()).as("nothing created").isEqualTo(before);
    }

    @Test
    void anIdentityIsCreatedListedAndDeletedAndEachChangeIsAudited() {
        JsonNode created = api.ok(
                owner,
                "POST",
                "/v1/agent-identities",
                body(ISSUER, "repo:acme/app:*", "{\"repository_owner\":\"acme\"}"),
                201);
        String id = created.get("id").asText();
        assertThat(id).matches("wid-[0-9a-f]{16}");
        assertThat(created.get("issuer").asText()).isEqualTo(ISSUER);
        assertThat(created.get("subject").asText()).isEqualTo("repo:acme/app:*");
        assertThat(created.get("claims").toString()).isEqualTo("{\"repository_owner\":\"acme\"}");
        assertThat(created.has("lastUsedAt")).isFalse();
        assertThat(listed()).contains(id);

        assertThat(api.ok(owner, "POST", "/v1/agent-identities", body(ISSUER, "repo:acme/*", null), 201)
                        .get("subject")
                        .asText())
                .as("a prefix ending at '/'")
                .isEqualTo("repo:acme/*");

        JsonNode deleted = api.ok(owner, "DELETE", "/v1/agent-identities/" + id, null, 200);
        assertThat(deleted.get("id").asText()).isEqualTo(id);
        assertThat(listed()).doesNotContain(id);
        assertThat(api.call(owner, "DELETE", "/v1/agent-identities/" + id).problem(404))
                .contains("agent identity " + id);

        String audit = api.get(owner, "/v1/audit-events?limit=500").toString();
        assertThat(audit)
                .contains("agentIdentity.create")
                .contains("agentIdentity.delete")
                .contains("agentIdentity:" + id);
    }
}
