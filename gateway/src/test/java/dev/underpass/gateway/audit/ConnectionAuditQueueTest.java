package dev.underpass.gateway.audit;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.audit.AuditChain;
import dev.underpass.controlplane.audit.AuditEvents;
import dev.underpass.controlplane.audit.AuditRecord;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.gateway.events.EndpointRoute;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.embedded.EmbeddedChannel;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/**
 * The connection writer's bounded queue on a real store: while the writer holds a batch open
 * (the test decides when it takes the rest, so nothing depends on timing) and then waits for
 * the store (the chain's head is locked by another transaction), records beyond the queue's
 * capacity are dropped, counted in the metric and logged once; what was queued is written when
 * the store answers again, and by {@code close()}. A batch that mixes accounts' records with odd
 * ones (a token-shaped destination, a NUL byte, an over-long reason, a record the store refuses)
 * is written whole but for the refused record, on H2 and PostgreSQL.
 */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class ConnectionAuditQueueTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void aFullQueueDropsCountsAndLogsAndWhatWasQueuedIsWritten() throws Exception {
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        log.start();
        Logger logger = (Logger) LoggerFactory.getLogger("underpass.gateway.audit");
        logger.addAppender(log);
        try (Store store = Store.open(StoreConfig.embedded(dir))) {
            ControlPlane cp = new ControlPlane(
                    store,
                    new ControlPlane.Settings(
                            ControlPlane.Settings.DEFAULT_DOMAIN,
                            "gw.test",
                            ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                            null));
            Principal operator = cp.apiKeys()
                    .authenticate(
                            cp.accounts().bootstrap().orElseThrow().ownerKey().key());
            Principal platform = cp.apiKeys()
                    .authenticate(cp.accounts()
                            .create(operator, new Accounts.CreateRequest("platform", null))
                            .ownerKey()
                            .key());
            cp.accounts().create(operator, new Accounts.CreateRequest("acme", null));
            EndpointRoute route = new EndpointRoute(
                    "ep-0123456789abcdef",
                    "platform",
                    "acme/svc",
                    "acme",
                    7,
                    List.of(),
                    EndpointRoute.Balancing.LEAST_OUTSTANDING,
                    true);
            EmbeddedChannel socket = new EmbeddedChannel();
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            CountDownLatch takeBatch = new CountDownLatch(1);
            ConnectionAudit audit = ConnectionAudit.start(cp.audit(), registry, 2, takeBatch::await);
            int offered = 10;
            try (Handle lock = store.jdbi().open()) {
                lock.begin();
                lock.createQuery("select seq from audit_heads where account_seq = (select seq from accounts "
                                + "where name = 'platform') for update")
                        .mapTo(Long.class)
                        .one();
                audit.refused(route, socket, "no_agent", "the first: the writer takes it and holds its batch open");
                awaitTaken(registry);
                for (int i = 1; i < offered; i++) {
                    audit.refused(route, socket, "no_agent", "record " + i);
                }
                assertThat(registry.get(ConnectionAudit.QUEUED).gauge().value()).isEqualTo(2);
                takeBatch.countDown(); // the writer takes the rest and waits for the lock
                lock.rollback();
            }
            audit.close();
            double dropped = registry.get(ConnectionAudit.DROPPED)
                    .tag("reason", "queue_full")
                    .counter()
                    .count();
            assertThat(dropped).isEqualTo(offered - 3);
            List<String> warnings = log.list.stream()
                    .filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage)
                    .toList();
            assertThat(warnings)
                    .hasSize(1)
                    .first()
                    .asString()
                    .contains("dropped 1 connection record(s) since the last warning: the queue is full");
            List<AuditRecord> chain = cp.audit()
                    .events()
                    .list(platform, null, AuditEvents.Filter.ALL, new Page.Request(Page.MAX_LIMIT, 0))
                    .items();
            assertThat(chain)
                    .filteredOn(r -> r.action().equals("connection"))
                    .hasSize(3)
                    .allSatisfy(r -> assertThat(r.outcome()).isEqualTo("refused: no_agent"));
            assertThat(cp.audit().events().verify(platform, null).valid()).isTrue();
        } finally {
            logger.detachAppender(log);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgres"})
    void oddRecordsNeverCostTheRestOfTheirBatch(String db) throws Exception {
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        log.start();
        Logger logger = (Logger) LoggerFactory.getLogger("underpass.gateway.audit");
        logger.addAppender(log);
        EmbeddedPostgres pg = db.equals("postgres") ? EmbeddedPostgres.builder().start() : null;
        StoreConfig config = pg == null
                ? StoreConfig.embedded(dir)
                : new StoreConfig(pg.getJdbcUrl("postgres", "postgres"), "postgres", "");
        try (Store store = Store.open(config)) {
            ControlPlane cp = new ControlPlane(
                    store,
                    new ControlPlane.Settings(
                            ControlPlane.Settings.DEFAULT_DOMAIN,
                            "gw.test",
                            ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                            null));
            Principal operator = cp.apiKeys()
                    .authenticate(
                            cp.accounts().bootstrap().orElseThrow().ownerKey().key());
            Principal platform = cp.apiKeys()
                    .authenticate(cp.accounts()
                            .create(operator, new Accounts.CreateRequest("platform", null))
                            .ownerKey()
                            .key());
            Principal globex = cp.apiKeys()
                    .authenticate(cp.accounts()
                            .create(operator, new Accounts.CreateRequest("globex", null))
                            .ownerKey()
                            .key());
            Principal acme = cp.apiKeys()
                    .authenticate(cp.accounts()
                            .create(operator, new Accounts.CreateRequest("acme", null))
                            .ownerKey()
                            .key());
            // A record the store itself refuses, whatever the writer does to its text.
            store.jdbi()
                    .useHandle(h -> h.execute("alter table audit_events add constraint no_poison "
                            + "check (outcome not like '%poison%')"));
            EndpointRoute toAcme = new EndpointRoute(
                    "ep-0123456789abcdef",
                    "platform",
                    "acme/svc",
                    "acme",
                    7,
                    List.of(),
                    EndpointRoute.Balancing.LEAST_OUTSTANDING,
                    true);
            EndpointRoute globexToAcme = new EndpointRoute(
                    "ep-fedcba9876543210",
                    "globex",
                    "acme/svc",
                    "acme",
                    7,
                    List.of(),
                    EndpointRoute.Balancing.LEAST_OUTSTANDING,
                    true);
            EmbeddedChannel port = new EmbeddedChannel();
            EmbeddedChannel platformSocks = new EmbeddedChannel();
            ConnectionAudit.consumer(platformSocks, platform, "SOCKS5 proxy");
            EmbeddedChannel globexSocks = new EmbeddedChannel();
            ConnectionAudit.consumer(globexSocks, globex, "SOCKS5 proxy");
            String token = "upa_" + "A".repeat(24);
            String jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl";
            List<Principal> all = List.of(platform, globex, acme);
            List<Integer> before = all.stream().map(p -> chain(cp, p).size()).toList();

            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            CountDownLatch takeBatch = new CountDownLatch(1);
            ConnectionAudit audit = ConnectionAudit.start(cp.audit(), registry, 100, takeBatch::await);
            try (Handle lock = store.jdbi().open()) {
                lock.begin();
                lock.createQuery("select seq from audit_heads where account_seq = (select seq from accounts "
                                + "where name = 'platform') for update")
                        .mapTo(Long.class)
                        .one();
                audit.refused(toAcme, port, "no_agent", "the first: the writer takes it and holds its batch open");
                awaitTaken(registry);
                // The rest of the batch: good records of three accounts among odd ones.
                audit.refused(globexSocks, token + ":1", token + ":1 is not an available endpoint of account globex");
                audit.refused(toAcme, port, "no_agent", "good: platform and acme");
                audit.refused(globexSocks, "nul\u0000host:1", "nul\u0000host:1 is not an available endpoint");
                audit.failed(globexToAcme, port, 5, "an agent's very long reason " + jwt + " " + "y".repeat(100_000));
                audit.refused(toAcme, port, "poison", "the store refuses this one");
                audit.refused(platformSocks, jwt + ":443", "\u001b[31mred\u001b[0m " + jwt + ":443 is not an endpoint");
                audit.refused(globexSocks, "fine.example:443", "good: globex");
                assertThat(registry.get(ConnectionAudit.QUEUED).gauge().value()).isEqualTo(7);
                takeBatch.countDown(); // the writer takes them and waits for the lock
                lock.rollback();
            }
            audit.close();

            assertThat(registry.get(ConnectionAudit.DROPPED)
                            .tag("reason", "record_refused")
                            .counter()
                            .count())
                    .as("only the record the store refuses")
                    .isEqualTo(1);
            assertThat(registry.get(ConnectionAudit.DROPPED)
                            .tag("reason", "write_failed")
                            .counter()
                            .count())
                    .isZero();
            assertThat(registry.get(ConnectionAudit.DROPPED)
                            .tag("reason", "queue_full")
                            .counter()
                            .count())
                    .isZero();
            assertThat(log.list.stream()
                            .filter(e -> e.getLevel() == Level.WARN)
                            .map(ILoggingEvent::getFormattedMessage))
                    .singleElement()
                    .asString()
                    .contains("dropped 1 connection record(s)")
                    .contains("the store refused one");
            List<AuditRecord> platformNew = since(cp, platform, before.get(0));
            List<AuditRecord> globexNew = since(cp, globex, before.get(1));
            List<AuditRecord> acmeNew = since(cp, acme, before.get(2));
            assertThat(platformNew)
                    .extracting(AuditRecord::outcome)
                    .containsExactly(
                            "refused: no_agent",
                            "refused: no_agent",
                            "refused: [31mred[0m eyJ****:443 is not an endpoint");
            assertThat(platformNew.get(2).target()).isEqualTo("destination:eyJ****:443");
            assertThat(globexNew)
                    .extracting(AuditRecord::target)
                    .containsExactly(
                            "destination:upa_****:1",
                            "destination:nulhost:1",
                            "endpoint:ep-fedcba9876543210",
                            "destination:fine.example:443");
            assertThat(globexNew.get(0).outcome())
                    .isEqualTo("refused: upa_****:1 is not an available endpoint of account globex");
            assertThat(acmeNew)
                    .extracting(AuditRecord::outcome)
                    .containsExactly("refused: no_agent", "refused: no_agent", "failed: not relayed");
            String reason =
                    JSON.readTree(acmeNew.get(2).details()).get("reason").asText();
            assertThat(reason)
                    .startsWith("an agent's very long reason eyJ**** yyy")
                    .endsWith("…")
                    .hasSize(ConnectionAudit.MAX_REASON);
            String rows = store.jdbi()
                    .withHandle(h -> h.createQuery("select * from audit_events")
                            .mapToMap()
                            .list())
                    .toString();
            assertThat(rows)
                    .doesNotContain(token)
                    .doesNotContain(jwt)
                    .doesNotContain("\u0000")
                    .doesNotContain("\u001b")
                    .doesNotContain("poison");
            assertThat(cp.audit().events().verifyAll())
                    .allSatisfy(v -> assertThat(v.valid()).as(v.toString()).isTrue());
        } finally {
            logger.detachAppender(log);
            if (pg != null) {
                pg.close();
            }
        }
    }

    /** Waits until the writer has taken the first record (it then holds its batch open until the test says). */
    private static void awaitTaken(SimpleMeterRegistry registry) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (registry.get(ConnectionAudit.QUEUED).gauge().value() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(registry.get(ConnectionAudit.QUEUED).gauge().value())
                .as("taken by the writer")
                .isZero();
    }

    /** The records of p's chain after the first {@code before}, the whole chain checked. */
    private static List<AuditRecord> since(ControlPlane cp, Principal p, int before) {
        List<AuditRecord> records = chain(cp, p);
        assertThat(AuditChain.verify(p.account(), records).valid())
                .as("chain of %s", p.account())
                .isTrue();
        return records.subList(before, records.size());
    }

    private static List<AuditRecord> chain(ControlPlane cp, Principal p) {
        return cp.audit()
                .events()
                .list(p, null, AuditEvents.Filter.ALL, new Page.Request(Page.MAX_LIMIT, 0))
                .items();
    }
}
