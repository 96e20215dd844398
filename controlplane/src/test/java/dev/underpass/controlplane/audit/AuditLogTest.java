package dev.underpass.controlplane.audit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.Databases;
import dev.underpass.controlplane.Db;
import dev.underpass.controlplane.Race;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.tenancy.Users;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The audit log on a real store, H2 and PostgreSQL: every kind of change leaves exactly one
 * record in each chain it concerns, with the right actor, target, outcome and details, and no
 * secret; the check of a chain passes untouched and finds the first bad record after an edit,
 * a removal, a reordering or a truncation made with SQL; concurrent changes keep one unbroken
 * chain per account.
 */
class AuditLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;

    static Databases databases;

    @BeforeAll
    static void start() throws Exception {
        databases = Databases.start(dir);
    }

    @AfterAll
    static void stop() throws Exception {
        databases.close();
    }

    static List<AuditRecord> chain(ControlPlaneFixture f, Principal p) {
        return chain(f, p, null);
    }

    /** The whole chain of {@code account} (p's own when null), read through the API's operation. */
    static List<AuditRecord> chain(ControlPlaneFixture f, Principal p, String account) {
        List<AuditRecord> all = new ArrayList<>();
        Page.Request page = new Page.Request(Page.MAX_LIMIT, 0);
        while (true) {
            Page<AuditRecord> got = f.cp.audit().events().list(p, account, AuditEvents.Filter.ALL, page);
            all.addAll(got.items());
            if (got.nextPageToken() == null) {
                return all;
            }
            page = Page.Request.of(Page.MAX_LIMIT, got.nextPageToken());
        }
    }

    /** The records of the chain added since {@code before} records, each checked against the chain's rule. */
    static List<AuditRecord> since(ControlPlaneFixture f, Principal p, int before) {
        List<AuditRecord> all = chain(f, p);
        assertThat(AuditChain.verify(p.account(), all).valid())
                .as("chain of %s", p.account())
                .isTrue();
        return all.subList(before, all.size());
    }

    static JsonNode details(AuditRecord r) throws Exception {
        return JSON.readTree(r.details());
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void everyKindOfChangeLeavesOneRecordInEachChainItConcerns(Db db) throws Exception {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            List<AuditRecord> operatorChain = chain(f, f.operator);
            assertThat(operatorChain).extracting(AuditRecord::action).containsExactly("account.create");
            assertThat(operatorChain.getFirst().actor()).isEqualTo(AuditLog.SYSTEM);
            assertThat(operatorChain.getFirst().prevHash()).isEqualTo(AuditChain.GENESIS);

            Principal acme = f.as(f.account("acme"));
            Principal globex = f.as(f.account("globex"));
            List<AuditRecord> created = since(f, f.operator, 1);
            assertThat(created)
                    .extracting(AuditRecord::action, AuditRecord::target, AuditRecord::actor)
                    .containsExactly(
                            org.assertj.core.groups.Tuple.tuple("account.create", "account:acme", f.operator.actor()),
                            org.assertj.core.groups.Tuple.tuple(
                                    "account.create", "account:globex", f.operator.actor()));
            List<AuditRecord> acmeFirst = chain(f, acme);
            assertThat(acmeFirst).hasSize(1);
            assertThat(acmeFirst.getFirst().actor()).isEqualTo("account operator");
            assertThat(acmeFirst.getFirst().id())
                    .as("one event, two chains")
                    .isEqualTo(created.getFirst().id());
            assertThat(details(acmeFirst.getFirst()).get("owner").asText()).isEqualTo("owner");

            int n = 1;
            f.cp.users().create(acme, new Users.CreateRequest("alice", Role.MEMBER));
            f.cp.users().update(acme, "alice", new Users.UpdateRequest(Role.ADMIN));
            ApiKeys.Created key = f.cp.apiKeys().create(acme, new ApiKeys.CreateRequest("ci", "alice", null, null));
            ApiKeys.Created rotated = f.cp.apiKeys().rotate(acme, key.apiKey().id(), new ApiKeys.RotateRequest(0L));
            f.cp.apiKeys().revoke(acme, rotated.apiKey().id());
            f.cp.apiKeys().revoke(acme, rotated.apiKey().id()); // already revoked: no change, no record
            f.cp.users().delete(acme, "alice");
            AgentTokens.Created token = f.cp.agentTokens().create(acme, new AgentTokens.CreateRequest("edge", null));
            AgentTokens.Created token2 =
                    f.cp.agentTokens().rotate(acme, token.agentToken().id(), new ApiKeys.RotateRequest(60L));
            f.cp.agentTokens().revoke(acme, token2.agentToken().id());
            List<AuditRecord> own = since(f, acme, n);
            assertThat(own)
                    .extracting(AuditRecord::action)
                    .containsExactly(
                            "user.create",
                            "user.update",
                            "apiKey.create",
                            "apiKey.rotate",
                            "apiKey.revoke",
                            "user.delete",
                            "agentToken.create",
                            "agentToken.rotate",
                            "agentToken.revoke");
            assertThat(own).allSatisfy(r -> {
                assertThat(r.actor()).isEqualTo(acme.actor());
                assertThat(r.outcome()).isEqualTo(AuditLog.OK);
                assertThat(r.account()).isEqualTo("acme");
            });
            assertThat(own.get(1).target()).isEqualTo("user:alice");
            assertThat(details(own.get(1)).get("previousRole").asText()).isEqualTo("member");
            assertThat(own.get(2).target()).isEqualTo("apiKey:" + key.apiKey().id());
            assertThat(details(own.get(2)).get("prefix").asText())
                    .isEqualTo(key.apiKey().prefix());
            assertThat(details(own.get(3)).get("newKeyId").asText())
                    .isEqualTo(rotated.apiKey().id());
            assertThat(own.get(4).target())
                    .isEqualTo("apiKey:" + rotated.apiKey().id());
            assertThat(own.get(7).target())
                    .isEqualTo("agentToken:" + token.agentToken().id());
            n += own.size();

            f.txt.put("_underpass-verification.git.acme.example.com", List.of("wrong"));
            f.cp.services()
                    .create(
                            acme,
                            new Services.CreateRequest(
                                    "git",
                                    "source",
                                    List.of(new Services.Listener("tcp", 443, List.of("git.internal:443"))),
                                    List.of("globex"),
                                    true,
                                    "git.acme.example.com"));
            f.cp.privateNameVerification().verify(acme, "git");
            f.cp.services().update(acme, "git", new Services.UpdateRequest("the source", null, null, null, null));
            own = since(f, acme, n);
            assertThat(own)
                    .extracting(AuditRecord::action)
                    .containsExactly("service.create", "service.verifyDns", "service.update");
            assertThat(own).extracting(AuditRecord::target).containsOnly("service:acme/git");
            assertThat(details(own.get(0)).get("allowedPrincipals").toString()).isEqualTo("[\"globex\"]");
            assertThat(own.get(1).outcome()).startsWith("failed: TXT _underpass-verification.git.acme.example.com");
            assertThat(details(own.get(2)).get("changed").toString()).isEqualTo("[\"description\"]");
            n += own.size();

            // Between two accounts: each move is in both chains, the other side named by account only.
            Endpoints.View ep = f.cp.endpoints().create(globex, new Endpoints.CreateRequest("acme/git"));
            f.cp.endpoints().accept(acme, ep.id(), null);
            f.cp.endpoints().provisioned(ep.id(), Map.of(443, 41_000));
            f.cp.endpoints().reject(acme, ep.id(), new Endpoints.DecisionRequest("moved to the new forge"));
            f.cp.endpoints().delete(globex, ep.id());
            f.cp.endpoints().released(ep.id());
            List<String> moves = List.of(
                    "endpoint.create",
                    "endpoint.accept",
                    "endpoint.provisioned",
                    "endpoint.reject",
                    "endpoint.delete",
                    "endpoint.released");
            List<AuditRecord> provider = since(f, acme, n);
            List<AuditRecord> consumer = since(f, globex, 1);
            assertThat(provider).extracting(AuditRecord::action).containsExactlyElementsOf(moves);
            assertThat(consumer).extracting(AuditRecord::action).containsExactlyElementsOf(moves);
            assertThat(provider).extracting(AuditRecord::target).containsOnly("endpoint:" + ep.id());
            assertThat(provider)
                    .extracting(AuditRecord::actor)
                    .containsExactly(
                            "account globex",
                            acme.actor(),
                            AuditLog.SYSTEM,
                            acme.actor(),
                            "account globex",
                            AuditLog.SYSTEM);
            assertThat(consumer)
                    .extracting(AuditRecord::actor)
                    .containsExactly(
                            globex.actor(),
                            "account acme",
                            AuditLog.SYSTEM,
                            "account acme",
                            globex.actor(),
                            AuditLog.SYSTEM);
            for (int i = 0; i < moves.size(); i++) {
                assertThat(provider.get(i).id()).isEqualTo(consumer.get(i).id());
                assertThat(provider.get(i).details()).isEqualTo(consumer.get(i).details());
            }
            assertThat(details(provider.get(3)).get("reason").asText()).isEqualTo("moved to the new forge");
            assertThat(details(provider.get(3)).get("from").asText()).isEqualTo("available");
            n += provider.size();

            // A request that waits too long expires: the system's move, in both chains.
            Endpoints.View waiting = f.cp.endpoints().create(globex, new Endpoints.CreateRequest("acme/git"));
            f.clock.advance(ControlPlaneFixture.SETTINGS.requestTtl().plus(Duration.ofMinutes(1)));
            assertThat(f.cp.endpoints().expireRequests(ControlPlaneFixture.SETTINGS.requestTtl()))
                    .isEqualTo(1);
            AuditRecord expired = since(f, acme, n + 1).getFirst();
            assertThat(expired.action()).isEqualTo("endpoint.expire");
            assertThat(expired.actor()).isEqualTo(AuditLog.SYSTEM);
            assertThat(expired.target()).isEqualTo("endpoint:" + waiting.id());
            assertThat(since(f, globex, 1 + moves.size() + 1).getFirst().id()).isEqualTo(expired.id());
            f.cp.endpoints().delete(globex, waiting.id());
            f.cp.endpoints().released(waiting.id());
            n += 4;

            f.cp.services().delete(acme, "git");
            assertThat(since(f, acme, n)).extracting(AuditRecord::action).containsExactly("service.delete");

            // A refused change records nothing.
            int before = chain(f, acme).size();
            assertThatThrownBy(() -> f.cp.users().create(acme, new Users.CreateRequest("owner", Role.VIEWER)))
                    .isInstanceOf(Refused.class);
            assertThat(chain(f, acme)).hasSize(before);
            assertThat(f.cp.audit().events().verifyAll())
                    .allSatisfy(v -> assertThat(v.valid()).as(v.toString()).isTrue());
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void accountsOfAnOlderSchemaStartTheirChainAtOne(Db db) {
        var config = databases.fresh(db);
        org.flywaydb.core.Flyway.configure()
                .dataSource(config.url(), config.user(), config.password())
                .locations("classpath:db/migration")
                .target("2")
                .load()
                .migrate();
        org.jdbi.v3.core.Jdbi.create(config.url(), config.user(), config.password())
                .useHandle(h -> h.execute(
                        "insert into accounts (name, operator, created_at) values ('acme', false, current_timestamp)"));
        try (var store = dev.underpass.controlplane.store.Store.open(config)) {
            AuditLog audit = new AuditLog(store.jdbi(), java.time.Clock.systemUTC());
            assertThat(audit.events().heads()).isEqualTo(Map.of("acme", new AuditChain.Head(0, AuditChain.GENESIS)));
            long acme = store.jdbi()
                    .withHandle(h -> h.createQuery("select seq from accounts")
                            .mapTo(Long.class)
                            .one());
            store.jdbi()
                    .useTransaction(h -> audit.record(
                            h, acme, AuditLog.SYSTEM, "test.first", "account:acme", AuditLog.OK, Map.of()));
            List<AuditChain.Verification> all = audit.events().verifyAll();
            assertThat(all).hasSize(1);
            assertThat(all.getFirst().valid()).as(all.toString()).isTrue();
            assertThat(all.getFirst().head().seq()).isEqualTo(1);
            assertThat(audit.events().heads().get("acme"))
                    .isEqualTo(all.getFirst().head());
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void aRecordThatWouldHoldASecretIsRefused(Db db) {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            String key = f.account("acme");
            Principal acme = f.as(key);
            int before = chain(f, acme).size();
            assertThatThrownBy(() -> f.store
                            .jdbi()
                            .useTransaction(
                                    h -> f.cp.audit().record(h, acme, "test.leak", "apiKey:x", Map.of("key", key))))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageNotContaining(key);
            assertThat(chain(f, acme)).hasSize(before);
            String enrollment = "upe_" + "E".repeat(24); // an agent enrollment token
            assertThatThrownBy(() -> f.store
                            .jdbi()
                            .useTransaction(h ->
                                    f.cp.audit().record(h, acme, "test.leak", "agent:x", Map.of("token", enrollment))))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageNotContaining(enrollment);
            assertThat(chain(f, acme)).hasSize(before);
        }
    }

    /**
     * The gateway's connection records hold text from outside (a SOCKS5 name is any bytes, a
     * reason is what an agent sent): a token-shaped destination, a NUL byte and an over-long
     * reason are written made fit, in the same batch as other accounts' records, none refused.
     */
    @ParameterizedTest
    @EnumSource(Db.class)
    void connectionRecordsFromOutsideAreWrittenMadeFitWithTheirBatch(Db db) throws Exception {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            Principal acme = f.as(f.account("acme"));
            Principal globex = f.as(f.account("globex"));
            Principal initech = f.as(f.account("initech"));
            int acmeBefore = chain(f, acme).size();
            int globexBefore = chain(f, globex).size();
            int initechBefore = chain(f, initech).size();
            String token = "upa_" + "A".repeat(24);
            String apiKey = "upk_" + "K".repeat(30);
            java.time.Instant at = java.time.Instant.parse("2030-01-01T00:00:00Z");
            List<AuditLog.Named> batch = List.of(
                    connection("acme", null, at, "nowhere.example:443", "refused: not an endpoint", null),
                    connection("globex", null, at, token + ":1", "refused: " + token + ":1 is not an endpoint", null),
                    connection("globex", "acme", at, "nul\u0000host:1", "failed: not relayed", "x".repeat(10_000)),
                    connection("initech", null, at, "bidi\u202Ehost\n:1", "refused: " + apiKey, null),
                    connection("initech", "acme", at, "fine.example:1", "ok", "fine"));
            assertThat(f.cp.audit().appendNamed(batch)).as("unknown accounts").isZero();

            List<AuditRecord> acmeNew = since(f, acme, acmeBefore);
            List<AuditRecord> globexNew = since(f, globex, globexBefore);
            List<AuditRecord> initechNew = since(f, initech, initechBefore);
            assertThat(acmeNew).hasSize(3);
            assertThat(globexNew).hasSize(2);
            assertThat(initechNew).hasSize(2);
            assertThat(globexNew.get(0).target()).isEqualTo("destination:upa_****:1");
            assertThat(globexNew.get(0).outcome()).isEqualTo("refused: upa_****:1 is not an endpoint");
            assertThat(details(globexNew.get(0)).get("destination").asText()).isEqualTo("upa_****:1");
            assertThat(globexNew.get(1).target()).isEqualTo("destination:nulhost:1");
            AuditRecord reason = acmeNew.get(1);
            assertThat(reason.id()).isEqualTo(globexNew.get(1).id());
            assertThat(reason.details().length()).isLessThanOrEqualTo(AuditLog.MAX_DETAILS);
            assertThat(details(reason).get("reason").asText())
                    .startsWith("xxxx")
                    .endsWith("…");
            assertThat(initechNew.get(0).target()).isEqualTo("destination:bidihost:1");
            assertThat(initechNew.get(0).outcome()).isEqualTo("refused: upk_****");
            String rows = f.store
                    .jdbi()
                    .withHandle(h -> h.createQuery("select * from audit_events")
                            .mapToMap()
                            .list())
                    .toString();
            assertThat(rows)
                    .doesNotContain(token)
                    .doesNotContain(apiKey)
                    .doesNotContain("\u0000")
                    .doesNotContain("\u202E");
            assertThat(f.cp.audit().events().verifyAll())
                    .allSatisfy(v -> assertThat(v.valid()).as(v.toString()).isTrue());
        }
    }

    private static AuditLog.Named connection(
            String consumer, String provider, java.time.Instant at, String destination, String outcome, String reason) {
        Map<String, Object> own = new java.util.LinkedHashMap<>();
        own.put("via", "SOCKS5 proxy");
        own.put("destination", destination);
        Map<String, Object> theirs = new java.util.LinkedHashMap<>();
        theirs.put("via", "SOCKS5 proxy");
        if (reason != null) {
            theirs.put("reason", reason);
        }
        return new AuditLog.Named(
                consumer,
                provider,
                at,
                "account " + consumer,
                "account " + consumer,
                "connection",
                "destination:" + destination,
                outcome,
                own,
                theirs);
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void verificationReportsRecordsPastTheHead(Db db) {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            Principal p = f.as(f.account("acme"));
            for (int i = 0; i < 3; i++) { // records 2-4 after the account's creation
                f.cp.users().create(p, new Users.CreateRequest("u" + i, Role.VIEWER));
            }
            assertThat(f.cp.audit().events().verify(p, null).valid()).isTrue();
            long seq = f.store
                    .jdbi()
                    .withHandle(h -> h.createQuery("select seq from accounts where name = 'acme'")
                            .mapTo(Long.class)
                            .one());
            // A record chained correctly after the last one, inserted with SQL without moving the head row.
            AuditRecord last = chain(f, p).getLast();
            java.time.Instant at = last.at().plusSeconds(1);
            String hash = AuditChain.hash(
                    "acme", 5, "aud-inserted", at, "system", "user.delete", "user:u0", "ok", "{}", last.hash());
            f.store
                    .jdbi()
                    .useHandle(h -> h.createUpdate("insert into audit_events (account_seq, seq, id, at, actor, action, "
                                    + "target, outcome, details, prev_hash, hash) values (:a, 5, 'aud-inserted', :at, 'system', "
                                    + "'user.delete', 'user:u0', 'ok', '{}', :prev, :hash)")
                            .bind("a", seq)
                            .bind("at", at.atOffset(java.time.ZoneOffset.UTC))
                            .bind("prev", last.hash())
                            .bind("hash", hash)
                            .execute());
            assertThat(chain(f, p)).as("the API lists it").hasSize(5);

            AuditChain.Verification v = f.cp.audit().events().verify(p, null);
            assertThat(v.valid()).as(v.toString()).isFalse();
            assertThat(v.firstBadSeq()).isEqualTo(5);
            assertThat(v.problem())
                    .contains("records past the head: 1 record(s) from seq 5 after the head row's seq 4");
            assertThat(f.cp.audit().events().verifyAll())
                    .filteredOn(c -> c.account().equals("acme"))
                    .allSatisfy(c -> assertThat(c.valid()).isFalse());
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void noRecordHoldsASecret(Db db) {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            String ownerKey = f.account("acme");
            Principal acme = f.as(ownerKey);
            ApiKeys.Created key = f.cp.apiKeys().create(acme, new ApiKeys.CreateRequest("ci", null, null, null));
            ApiKeys.Created rotated = f.cp.apiKeys().rotate(acme, key.apiKey().id(), null);
            AgentTokens.Created token = f.cp.agentTokens().create(acme, new AgentTokens.CreateRequest("edge", null));
            AgentTokens.Created token2 =
                    f.cp.agentTokens().rotate(acme, token.agentToken().id(), null);
            String rows = f.store
                    .jdbi()
                    .withHandle(h -> h.createQuery("select * from audit_events order by account_seq, seq")
                            .mapToMap()
                            .list())
                    .toString();
            assertThat(rows).contains(key.apiKey().prefix(), token.agentToken().prefix());
            for (String secret :
                    List.of(f.operatorKey, ownerKey, key.key(), rotated.key(), token.token(), token2.token())) {
                assertThat(rows).doesNotContain(secret).doesNotContain(secret.substring(4));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void verificationFindsTheFirstRecordChangedWithSql(Db db) {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            record Tamper(String name, List<String> sql, long firstBad, String problem) {}
            List<Tamper> cases = List.of(
                    new Tamper(
                            "edited",
                            List.of("update audit_events set outcome = 'failed: nothing' where account_seq = :a "
                                    + "and seq = 3"),
                            3,
                            "a field was changed"),
                    new Tamper(
                            "details",
                            List.of("update audit_events set details = '{\"role\":\"owner\"}' where "
                                    + "account_seq = :a and seq = 4"),
                            4,
                            "a field was changed"),
                    new Tamper(
                            "deleted",
                            List.of("delete from audit_events where account_seq = :a and seq = 3"),
                            3,
                            "missing"),
                    new Tamper(
                            "reordered",
                            List.of(
                                    "update audit_events set seq = 1000 where account_seq = :a and seq = 3",
                                    "update audit_events set seq = 3 where account_seq = :a and seq = 4",
                                    "update audit_events set seq = 4 where account_seq = :a and seq = 1000"),
                            3,
                            "reordered"),
                    new Tamper(
                            "truncated",
                            List.of("delete from audit_events where account_seq = :a and seq = 6"),
                            6,
                            "the last records were removed"));
            for (Tamper t : cases) {
                Principal p = f.as(f.account("t-" + t.name()));
                for (int i = 0; i < 5; i++) { // records 2-6 after the account's creation
                    f.cp.users().create(p, new Users.CreateRequest("u" + i, Role.VIEWER));
                }
                AuditChain.Verification untouched = f.cp.audit().events().verify(p, null);
                assertThat(untouched.valid()).as(untouched.toString()).isTrue();
                assertThat(untouched.records()).isEqualTo(6);
                assertThat(untouched.head().seq()).isEqualTo(6);
                long seq = f.store
                        .jdbi()
                        .withHandle(h -> h.createQuery("select seq from accounts where name = :n")
                                .bind("n", p.account())
                                .mapTo(Long.class)
                                .one());
                f.store
                        .jdbi()
                        .useTransaction(h -> t.sql()
                                .forEach(sql ->
                                        h.createUpdate(sql).bind("a", seq).execute()));

                AuditChain.Verification server = f.cp.audit().events().verify(p, null);
                assertThat(server.valid()).as(t.name()).isFalse();
                assertThat(server.firstBadSeq())
                        .as(t.name() + ": " + server.problem())
                        .isEqualTo(t.firstBad());
                assertThat(server.problem()).as(t.name()).contains(t.problem());
                // The client's way: the records as the API lists them, the chain recomputed.
                List<AuditRecord> listed = chain(f, p);
                if (!t.name().equals("truncated")) { // a truncation shows only against a head kept elsewhere
                    assertThat(AuditChain.verify(p.account(), listed).firstBadSeq())
                            .as(t.name())
                            .isEqualTo(t.firstBad());
                }
                AuditChain.Verifier client = new AuditChain.Verifier(p.account()).expect(untouched.head());
                listed.forEach(client::add);
                assertThat(client.result().firstBadSeq()).as(t.name()).isEqualTo(t.firstBad());
            }
            // Someone with database access rewrites a record and every hash after it, and the head row: the chain
            // checks out by itself, but no longer passes through the head logged before.
            Principal p = f.as(f.account("t-rewritten"));
            for (int i = 0; i < 5; i++) {
                f.cp.users().create(p, new Users.CreateRequest("u" + i, Role.VIEWER));
            }
            AuditChain.Head logged = f.cp.audit().events().verify(p, null).head();
            long seq = f.store
                    .jdbi()
                    .withHandle(h -> h.createQuery("select seq from accounts where name = 't-rewritten'")
                            .mapTo(Long.class)
                            .one());
            List<AuditRecord> records = chain(f, p);
            String prev = records.get(0).hash();
            for (AuditRecord r : records.subList(1, records.size())) {
                String outcome = r.seq() == 2 ? "failed: never happened" : r.outcome();
                String hash = AuditChain.hash(
                        r.account(),
                        r.seq(),
                        r.id(),
                        r.at(),
                        r.actor(),
                        r.action(),
                        r.target(),
                        outcome,
                        r.details(),
                        prev);
                String previous = prev;
                f.store
                        .jdbi()
                        .useHandle(
                                h -> h.createUpdate("update audit_events set outcome = :o, prev_hash = :p, hash = :h "
                                                + "where account_seq = :a and seq = :s")
                                        .bind("o", outcome)
                                        .bind("p", previous)
                                        .bind("h", hash)
                                        .bind("a", seq)
                                        .bind("s", r.seq())
                                        .execute());
                prev = hash;
            }
            String last = prev;
            f.store
                    .jdbi()
                    .useHandle(h -> h.createUpdate("update audit_heads set hash = :h where account_seq = :a")
                            .bind("h", last)
                            .bind("a", seq)
                            .execute());
            assertThat(f.cp.audit().events().verify(p, null).valid())
                    .as("a full rewrite passes on its own")
                    .isTrue();
            AuditChain.Verifier against = new AuditChain.Verifier(p.account()).expect(logged);
            chain(f, p).forEach(against::add);
            assertThat(against.result().firstBadSeq()).isEqualTo(6);
            assertThat(against.result().problem()).contains("the chain was rewritten");

            // The other accounts' chains were not touched.
            assertThat(f.cp.audit().events().verifyAll())
                    .filteredOn(v -> !v.account().startsWith("t-"))
                    .allSatisfy(v -> assertThat(v.valid()).isTrue());
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void concurrentChangesKeepOneUnbrokenChainPerAccount(Db db) throws Exception {
        int threads = 6;
        int each = 10;
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            Principal acme = f.as(f.account("acme"));
            Principal globex = f.as(f.account("globex"));
            for (int i = 0; i < threads; i++) {
                f.service(acme, "svc-" + i, false, "globex");
            }
            int acmeBefore = chain(f, acme).size();
            int globexBefore = chain(f, globex).size();
            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    done.add(pool.submit(() -> {
                        try {
                            // Changes in acme alone, and endpoints that land in both chains at once.
                            f.cp.endpoints().create(globex, new Endpoints.CreateRequest("acme/svc-" + thread));
                            for (int i = 0; i < each; i++) {
                                f.cp.users()
                                        .create(acme, new Users.CreateRequest("u-" + thread + "-" + i, Role.VIEWER));
                            }
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    }));
                }
                for (Future<?> d : done) {
                    d.get(120, TimeUnit.SECONDS);
                }
            }
            assertThat(failures).isEmpty();
            List<AuditRecord> acmeChain = chain(f, acme);
            assertThat(acmeChain).hasSize(acmeBefore + threads * each + threads);
            assertThat(chain(f, globex)).hasSize(globexBefore + threads);
            assertThat(f.cp.audit().events().verifyAll())
                    .allSatisfy(v -> assertThat(v.valid()).as(v.toString()).isTrue());
            // Two appends racing for the same head, many times over.
            for (int i = 0; i < 20; i++) {
                int k = i;
                List<Throwable> outcomes = Race.of(
                        () -> f.cp.users().create(acme, new Users.CreateRequest("a-" + k, Role.VIEWER)),
                        () -> f.cp.endpoints().create(acme, new Endpoints.CreateRequest("acme/svc-" + (k % threads))));
                assertThat(outcomes.get(0)).isNull();
            }
            assertThat(f.cp.audit().events().verify(acme, null).valid()).isTrue();
        }
    }
}
