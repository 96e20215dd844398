package dev.underpass.controlplane.store;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control plane's database: a connection pool, the schema brought up to date by Flyway on
 * open, and Jdbi for queries. The same migrations run on the embedded H2 file and on PostgreSQL.
 */
public final class Store implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Store.class);

    private final HikariDataSource dataSource;
    private final Jdbi jdbi;
    private final StoreConfig config;

    private Store(HikariDataSource dataSource, StoreConfig config) {
        this.dataSource = dataSource;
        this.jdbi = Jdbi.create(dataSource);
        this.config = config;
    }

    /** Connects, migrates the schema and returns the open store. */
    public static Store open(StoreConfig config) {
        HikariConfig hikari = new HikariConfig();
        hikari.setJdbcUrl(config.url());
        hikari.setUsername(config.user());
        hikari.setPassword(config.password());
        hikari.setPoolName("underpass-store");
        hikari.setMaximumPoolSize(config.isEmbedded() ? 4 : 10);
        hikari.setConnectionTimeout(10_000);
        hikari.setInitializationFailTimeout(15_000);
        HikariDataSource dataSource;
        try {
            dataSource = new HikariDataSource(hikari);
        } catch (RuntimeException e) {
            throw new IllegalStateException(
                    "store: cannot connect to " + config.describe() + " as " + config.user() + ": " + rootMessage(e),
                    e);
        }
        try {
            MigrateResult result = Flyway.configure()
                    .dataSource(dataSource)
                    .locations("classpath:db/migration")
                    .load()
                    .migrate();
            log.info(
                    "store {} at schema version {} ({} migration(s) applied)",
                    config.describe(),
                    result.targetSchemaVersion != null ? result.targetSchemaVersion : result.initialSchemaVersion,
                    result.migrationsExecuted);
        } catch (RuntimeException e) {
            dataSource.close();
            throw new IllegalStateException("store: cannot migrate " + config.describe() + ": " + rootMessage(e), e);
        }
        return new Store(dataSource, config);
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    public Jdbi jdbi() {
        return jdbi;
    }

    public StoreConfig config() {
        return config;
    }

    @Override
    public void close() {
        dataSource.close();
    }
}
