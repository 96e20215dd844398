package dev.underpass.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.core.Sql;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.HealthCheck;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.flywaydb.core.Flyway;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A store kept by the first schema, with services, listeners and an endpoint, opened by this
 * version on both databases: the health-check migration applies, and what was there reads back
 * with the default check, load balancing and fail-open behaviour.
 */
class HealthCheckMigrationTest {
    @TempDir
    static Path dir;

    static Databases databases;

    @BeforeAll
    static void startPostgres() throws Exception {
        databases = Databases.start(dir);
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        databases.close();
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void servicesOfTheFirstSchemaGetTheDefaults(Db db) {
        StoreConfig config = databases.fresh(db);
        Flyway.configure()
                .dataSource(config.url(), config.user(), config.password())
                .locations("classpath:db/migration")
                .target("1")
                .load()
                .migrate();
        Jdbi.create(config.url(), config.user(), config.password()).useHandle(h -> {
            var now = Sql.at(TestClock.START);
            for (String account : List.of("acme", "globex")) {
                h.createUpdate("insert into accounts (name, operator, created_at) values (:n, false, :t)")
                        .bind("n", account)
                        .bind("t", now)
                        .execute();
            }
            h.createUpdate(
                            "insert into services (account_seq, name, description, acceptance_required, created_at, updated_at) "
                                    + "select seq, 'git', '', false, :t, :t from accounts where name = 'acme'")
                    .bind("t", now)
                    .execute();
            h.execute("insert into service_listeners (service_seq, protocol, port, targets) "
                    + "select seq, 'tcp', 443, 'git1.internal:443\ngit2.internal:443' from services");
            h.execute("insert into service_listeners (service_seq, protocol, port, targets) "
                    + "select seq, 'tcp', 22, 'git1.internal:22' from services");
            h.createUpdate(
                            "insert into endpoints (id, account_seq, service_seq, service_ref, state, version, created_at, "
                                    + "updated_at) select 'ep-0123456789abcdef', a.seq, s.seq, 'acme/git', 'available', 1, :t, :t "
                                    + "from accounts a, services s where a.name = 'globex'")
                    .bind("t", now)
                    .execute();
        });

        try (Store store = Store.open(config)) {
            List<String> applied = store.jdbi()
                    .withHandle(h -> h.createQuery(
                                    "select version from flyway_schema_history where version is not null order by installed_rank")
                            .mapTo(String.class)
                            .list());
            assertThat(applied).containsExactly("1", "2", "3", "4", "5", "6", "7", "8");
            ControlPlane cp = new ControlPlane(store, ControlPlaneFixture.SETTINGS);

            assertThat(cp.services().healthChecks("acme"))
                    .containsExactly(
                            new Services.TargetCheck(
                                    "git:22/git1.internal:22", "git", 22, "git1.internal:22", HealthCheck.DEFAULT),
                            new Services.TargetCheck(
                                    "git:443/git1.internal:443", "git", 443, "git1.internal:443", HealthCheck.DEFAULT),
                            new Services.TargetCheck(
                                    "git:443/git2.internal:443", "git", 443, "git2.internal:443", HealthCheck.DEFAULT));
            Endpoints.Listening l = cp.endpoints().listening().getFirst();
            assertThat(l.id()).isEqualTo("ep-0123456789abcdef");
            assertThat(l.healthChecks()).isEqualTo(Map.of(22, HealthCheck.DEFAULT, 443, HealthCheck.DEFAULT));
            assertThat(l.loadBalancing().text()).isEqualTo("leastOutstanding");
            assertThat(l.whenAllUnhealthy().text()).isEqualTo("failOpen");
        }
    }
}
