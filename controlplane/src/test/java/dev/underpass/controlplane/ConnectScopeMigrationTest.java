package dev.underpass.controlplane;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.flywaydb.core.Flyway;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Keys stored before scope {@code endpoints:connect} existed, opened by this version on both
 * databases: a runner's key narrowed to {@code endpoints:read} (as the README said) may still use
 * the forward proxy; other narrowed keys may not, and keys that follow their user's role get it
 * from the role.
 */
class ConnectScopeMigrationTest {
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
    void runnerKeysNarrowedToEndpointsReadGetEndpointsConnect(Db db) {
        StoreConfig config = databases.fresh(db);
        Flyway.configure()
                .dataSource(config.url(), config.user(), config.password())
                .locations("classpath:db/migration")
                .target("5")
                .load()
                .migrate();
        Map<String, String> keys = new LinkedHashMap<>(); // key -> scopes as version 5 stored them
        keys.put(Secrets.apiKey(), "endpoints:read");
        keys.put(Secrets.apiKey(), "endpoints:read services:read");
        keys.put(Secrets.apiKey(), "endpoints:write keys:read");
        keys.put(Secrets.apiKey(), "*");
        Jdbi.create(config.url(), config.user(), config.password()).useHandle(h -> {
            var now = Sql.at(TestClock.START);
            h.createUpdate("insert into accounts (name, operator, created_at) values ('platform', false, :t)")
                    .bind("t", now)
                    .execute();
            h.createUpdate("insert into users (account_seq, name, role, created_at) select seq, 'ci', 'member', :t "
                            + "from accounts")
                    .bind("t", now)
                    .execute();
            int i = 0;
            for (var k : keys.entrySet()) {
                h.createUpdate("insert into api_keys (id, account_seq, user_seq, name, prefix, secret_sha256, scopes, "
                                + "created_at, created_by) select :id, a.seq, u.seq, :n, :p, :h, :s, :t, 'test' "
                                + "from accounts a join users u on u.account_seq = a.seq")
                        .bind("id", "key-000000000000000" + i)
                        .bind("n", "k" + i++)
                        .bind("p", Secrets.shownPrefix(k.getKey()))
                        .bind("h", Secrets.sha256Hex(k.getKey()))
                        .bind("s", k.getValue())
                        .bind("t", now)
                        .execute();
            }
        });

        try (Store store = Store.open(config)) {
            ApiKeys apiKeys = new ControlPlane(store, ControlPlaneFixture.SETTINGS).apiKeys();
            var connect = keys.keySet().stream()
                    .map(k -> apiKeys.authenticate(k).can(Scope.ENDPOINTS_CONNECT))
                    .toList();
            assertThat(connect)
                    .as("endpoints:read, endpoints:read services:read, endpoints:write keys:read, *")
                    .containsExactly(true, true, false, true);
            Principal runner = apiKeys.authenticate(keys.keySet().iterator().next());
            assertThat(runner.scopes()).containsExactlyInAnyOrder(Scope.ENDPOINTS_READ, Scope.ENDPOINTS_CONNECT);
        }
    }
}
