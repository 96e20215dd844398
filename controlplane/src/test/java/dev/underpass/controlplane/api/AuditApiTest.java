package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.audit.AuditChain;
import dev.underpass.controlplane.audit.AuditRecord;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audit log through the real HTTPS API: an account's records with filters and pages, the
 * chain recomputed from what the API lists, the server's own check, who may read (admin and
 * owner, scope audit:read), and that another account sees none of acme's events and only the
 * operator may name another account.
 */
class AuditApiTest {
    @TempDir
    static Path dir;

    static ApiFixture api;
    static String operator;
    static String owner;
    static String outsider;
    static String ciKey;
    static String ciKeyId;
    static String viewer;
    static String narrowed;

    @BeforeAll
    static void setUp() throws Exception {
        api = ApiFixture.start(dir);
        operator = api.cp.operatorKey;
        owner = api.ok(operator, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201)
                .at("/ownerKey/key")
                .asText();
        outsider = api.ok(operator, "POST", "/v1/accounts", "{\"name\":\"globex\"}", 201)
                .at("/ownerKey/key")
                .asText();
        api.ok(owner, "POST", "/v1/users", "{\"name\":\"vera\",\"role\":\"viewer\"}", 201);
        api.ok(owner, "POST", "/v1/users", "{\"name\":\"adam\",\"role\":\"admin\"}", 201);
        JsonNode ci = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"ci\",\"user\":\"adam\"}", 201);
        ciKey = ci.get("key").asText();
        ciKeyId = ci.at("/apiKey/id").asText();
        viewer = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"vera-key\",\"user\":\"vera\"}", 201)
                .get("key")
                .asText();
        narrowed = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"narrow\",\"scopes\":[\"services:read\"]}", 201)
                .get("key")
                .asText();
        api.ok(owner, "POST", "/v1/services", """
                {"name": "git", "allowedPrincipals": ["globex"], "listeners": [{"port": 443, "targets": ["git.acme.internal:443"]}]}""", 201);
        api.ok(outsider, "POST", "/v1/endpoints", "{\"service\":\"acme/git\"}", 201);
    }

    @AfterAll
    static void tearDown() {
        if (api != null) {
            api.close();
        }
    }

    /** Every record of the caller's chain (or {@code query}'s selection), page by page. */
    static List<JsonNode> all(String key, String query) {
        List<JsonNode> items = new ArrayList<>();
        String token = null;
        for (int pages = 0; pages < 100; pages++) {
            JsonNode page =
                    api.get(key, "/v1/audit-events?limit=2" + query + (token == null ? "" : "&pageToken=" + token));
            page.get("items").forEach(items::add);
            if (!page.has("nextPageToken")) {
                return items;
            }
            token = page.get("nextPageToken").asText();
        }
        throw new AssertionError("more than 100 pages");
    }

    static AuditRecord record(JsonNode n) {
        return new AuditRecord(
                n.get("account").asText(),
                n.get("seq").asLong(),
                n.get("id").asText(),
                Instant.parse(n.get("at").asText()),
                n.get("actor").asText(),
                n.get("action").asText(),
                n.get("target").asText(),
                n.get("outcome").asText(),
                n.get("details").asText(),
                n.get("prevHash").asText(),
                n.get("hash").asText());
    }

    @Test
    void listsTheAccountsRecordsInPagesAndTheChainRecomputesFromThem() {
        List<JsonNode> items = all(owner, "");
        assertThat(items)
                .extracting(n -> n.get("action").asText())
                .containsExactly(
                        "account.create",
                        "user.create",
                        "user.create",
                        "apiKey.create",
                        "apiKey.create",
                        "apiKey.create",
                        "service.create",
                        "endpoint.create");
        assertThat(items).extracting(n -> n.get("seq").asLong()).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
        JsonNode key = items.get(3);
        assertThat(key.get("target").asText()).isEqualTo("apiKey:" + ciKeyId);
        assertThat(key.get("outcome").asText()).isEqualTo("ok");
        assertThat(key.get("actor").asText()).startsWith("owner@acme (key key-");
        assertThat(key.get("details").asText()).contains("\"user\":\"adam\"").doesNotContain(ciKey);
        assertThat(items.get(7).get("actor").asText()).isEqualTo("account globex");

        AuditChain.Verification mine = AuditChain.verify(
                "acme", items.stream().map(AuditApiTest::record).toList());
        assertThat(mine.valid()).as(mine.toString()).isTrue();
        JsonNode server = api.get(owner, "/v1/audit-events/verify");
        assertThat(server.get("valid").asBoolean()).isTrue();
        assertThat(server.get("account").asText()).isEqualTo("acme");
        assertThat(server.get("records").asLong()).isEqualTo(8);
        assertThat(server.at("/head/seq").asLong()).isEqualTo(8);
        assertThat(server.at("/head/hash").asText()).isEqualTo(mine.head().hash());
        assertThat(server.has("firstBadSeq")).isFalse();
    }

    @Test
    void filtersByActionTargetAndTime() {
        assertThat(all(owner, "&action=user.create"))
                .extracting(n -> n.get("target").asText())
                .containsExactly("user:vera", "user:adam");
        assertThat(all(owner, "&action=user.*")).hasSize(2);
        assertThat(all(owner, "&target=service:acme/git"))
                .extracting(n -> n.get("action").asText())
                .containsExactly("service.create");
        // The fixture's clock does not move: every record is at its instant.
        String at = all(owner, "").getFirst().get("at").asText();
        assertThat(all(owner, "&since=" + at)).hasSize(8);
        assertThat(all(owner, "&until=" + at)).isEmpty();
        String detail =
                api.call(owner, "GET", "/v1/audit-events?since=yesterday").problem(400);
        assertThat(detail).contains("since: 'yesterday' (expected: an ISO-8601 instant");
        api.call(owner, "GET", "/v1/audit-events?since=" + at + "&until=" + at).problem(400);
    }

    @Test
    void anotherAccountSeesNoneOfAcmesEventsAndOnlyTheOperatorMayNameAnAccount() {
        List<JsonNode> theirs = all(outsider, "");
        assertThat(theirs).extracting(n -> n.get("account").asText()).containsOnly("globex");
        assertThat(theirs)
                .extracting(n -> n.get("action").asText())
                .containsExactly("account.create", "endpoint.create");
        assertThat(theirs.toString()).doesNotContain("vera", "adam", ciKeyId, "git.acme.internal", "owner@acme");
        String detail =
                api.call(outsider, "GET", "/v1/audit-events?account=acme").problem(403);
        assertThat(detail).contains("only the operator account");
        // The same answer for an account that exists and one that does not.
        assertThat(api.call(outsider, "GET", "/v1/audit-events/verify?account=acme")
                        .problem(403)
                        .replace("acme", "X"))
                .isEqualTo(api.call(outsider, "GET", "/v1/audit-events/verify?account=nobody")
                        .problem(403)
                        .replace("nobody", "X"));
        // The operator reads any account's chain, and checks it.
        assertThat(all(operator, "&account=acme")).hasSize(8);
        assertThat(api.get(operator, "/v1/audit-events/verify?account=acme")
                        .get("valid")
                        .asBoolean())
                .isTrue();
        api.call(operator, "GET", "/v1/audit-events?account=nobody").problem(404);
        assertThat(all(operator, ""))
                .extracting(n -> n.get("target").asText())
                .containsExactly("account:operator", "account:acme", "account:globex");
    }

    @Test
    void onlyAdminsAndOwnersMayReadTheAuditLog() {
        assertThat(api.call(viewer, "GET", "/v1/audit-events").problem(403)).contains("audit:read");
        assertThat(api.call(viewer, "GET", "/v1/audit-events/verify").problem(403))
                .contains("audit:read");
        assertThat(api.get(ciKey, "/v1/audit-events").get("items")).isNotEmpty();
        api.call(narrowed, "GET", "/v1/audit-events").problem(403);
    }
}
