package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.controlplane.tenancy.Users;
import dev.underpass.gateway.GatewayConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code underpass audit} against the real API: the list with its filters, and a verification
 * computed by the CLI that passes on an untouched chain and names the first bad seq after a
 * record is changed in the store behind the gateway's back; and the operator's
 * {@code underpass gateway audit-verify} straight on a gateway's store.
 */
class AuditCommandTest {
    @TempDir
    Path dir;

    ApiFixture api;
    Cli acme;
    String acmeKey;

    @BeforeEach
    void start() throws Exception {
        api = ApiFixture.start(dir);
        acmeKey = api.controlPlane
                .accounts()
                .create(api.operator(), new Accounts.CreateRequest("acme", null))
                .ownerKey()
                .key();
        Principal p = api.controlPlane.apiKeys().authenticate(acmeKey);
        for (String name : new String[] {"alice", "bob", "carol"}) {
            api.controlPlane.users().create(p, new Users.CreateRequest(name, Role.VIEWER));
        }
        acme = Cli.loggedIn(api, dir.resolve("acme"), acmeKey);
    }

    @AfterEach
    void stop() {
        api.close();
    }

    @Test
    void listShowsTheAccountsEventsWithFilters() throws Exception {
        Cli.Run r = acme.run("audit", "list");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines())
                .hasSize(1 + 4)
                .first()
                .asString()
                .startsWith("SEQ")
                .contains("ACTION", "OUTCOME");
        assertThat(r.out()).contains("account.create", "user:alice", "user:carol", "owner@acme (key key-");

        Cli.Run json = acme.run("audit", "list", "--action", "user.*", "--since", "1h", "-o", "json");
        assertThat(json.code()).as(json.err()).isZero();
        JsonNode items = ApiClient.JSON.readTree(json.out()).path("items");
        assertThat(items).hasSize(3);
        assertThat(items.get(0).path("details").asText()).isEqualTo("{\"role\":\"viewer\"}");

        Cli.Run bad = acme.run("audit", "list", "--since", "last tuesday");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--since: 'last tuesday' (expected: an ISO-8601 time");
        Cli.Run other = acme.run("audit", "list", "--account", "operator");
        assertThat(other.code()).isEqualTo(ApiError.EXIT_CODE);
        assertThat(other.err()).contains("only the operator account may read another account's audit events");
    }

    @Test
    void verifyRecomputesTheChainAndNamesTheFirstBadSeqAfterTampering() {
        Cli.Run ok = acme.run("audit", "verify");
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(ok.out()).startsWith("acme: 4 record(s) checked, chain intact; head 4:");
        String head = ok.out().substring(ok.out().indexOf("head ") + 5).strip();
        assertThat(acme.run("audit", "verify", "--expect-head", head).code()).isZero();

        // Someone with database access gives carol another role in the record of her creation.
        long account = api.store()
                .jdbi()
                .withHandle(h -> h.createQuery("select seq from accounts where name = 'acme'")
                        .mapTo(Long.class)
                        .one());
        int changed = api.store()
                .jdbi()
                .withHandle(h -> h.createUpdate("update audit_events set details = "
                                + "'{\"role\":\"owner\"}' where account_seq = :a and seq = 4")
                        .bind("a", account)
                        .execute());
        assertThat(changed).isEqualTo(1);
        Cli.Run broken = acme.run("audit", "verify");
        assertThat(broken.code()).as(broken.out() + broken.err()).isEqualTo(AuditCommand.BROKEN);
        assertThat(broken.out()).contains("acme: chain BROKEN at seq 4: hash does not match the record's fields");

        // Removed, and the head row put back one step: the chain alone looks whole, the head logged earlier does not.
        api.store().jdbi().useTransaction(h -> {
            h.createUpdate("delete from audit_events where account_seq = :a and seq = 4")
                    .bind("a", account)
                    .execute();
            h.createUpdate(
                            "update audit_heads set seq = 3, hash = (select hash from audit_events where account_seq = :a "
                                    + "and seq = 3) where account_seq = :a")
                    .bind("a", account)
                    .execute();
        });
        assertThat(acme.run("audit", "verify").code()).isZero();
        Cli.Run truncated = acme.run("audit", "verify", "--expect-head", head, "-o", "json");
        assertThat(truncated.code()).isEqualTo(AuditCommand.BROKEN);
        assertThat(truncated.out()).contains("\"firstBadSeq\" : 4", "the last records were removed");

        Cli.Run malformed = acme.run("audit", "verify", "--expect-head", "4:abc");
        assertThat(malformed.code()).isEqualTo(2);
        assertThat(malformed.err()).contains("--expect-head: '4:abc' (expected: SEQ:HASH");
    }

    @Test
    void theOperatorVerifiesEveryChainStraightFromTheGatewaysStore() throws Exception {
        Path data = dir.resolve("gateway-data");
        var config = GatewayConfig.defaults().storeConfig(data);
        try (Store store = Store.open(config)) {
            ControlPlane cp = new ControlPlane(
                    store,
                    new ControlPlane.Settings(
                            ControlPlane.Settings.DEFAULT_DOMAIN,
                            "127.0.0.1",
                            ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                            null));
            String key = cp.accounts().bootstrap().orElseThrow().ownerKey().key();
            cp.accounts().create(cp.apiKeys().authenticate(key), new Accounts.CreateRequest("globex", null));
        }
        Cli cli = new Cli(dir.resolve("operator-config"));
        Cli.Run ok = cli.run("gateway", "audit-verify", "--data-dir", data.toString());
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(ok.out().lines()).hasSize(3).first().asString().startsWith("ACCOUNT");
        assertThat(ok.out())
                .containsPattern("operator +2 +2:[0-9a-f]{64} +yes")
                .containsPattern("globex +1 +1:[0-9a-f]{64} +yes");

        try (Store store = Store.open(config)) {
            store.jdbi()
                    .useHandle(h -> h.execute("update audit_events set actor = 'someone else' where seq = 1 "
                            + "and account_seq = (select seq from accounts where name = 'operator')"));
        }
        Cli.Run broken = cli.run("gateway", "audit-verify", "--data-dir", data.toString());
        assertThat(broken.code()).isEqualTo(AuditCommand.BROKEN);
        assertThat(broken.out())
                .containsPattern("operator +2 .* NO +1 +hash does not match")
                .containsPattern("globex +1 +1:[0-9a-f]{64} +yes");

        Cli.Run unknown = cli.run(
                "gateway",
                "audit-verify",
                "--data-dir",
                data.toString(),
                "--expect-head",
                "nobody=1:" + "0".repeat(64));
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err()).contains("no such account");
    }
}
