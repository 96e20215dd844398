package dev.underpass.controlplane;

import dev.underpass.controlplane.store.StoreConfig;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Fresh databases for the tests of one class: H2 files under a directory, and databases on one
 * real PostgreSQL server, started once for the class (it takes a few seconds) and stopped by
 * {@link #close()}. Opening a store again on the same {@link StoreConfig} reopens the same data.
 */
public final class Databases implements AutoCloseable {
    private final Path dir;
    private final EmbeddedPostgres pg;
    private final AtomicInteger created = new AtomicInteger();

    private Databases(Path dir, EmbeddedPostgres pg) {
        this.dir = dir;
        this.pg = pg;
    }

    /** Starts PostgreSQL; H2 files go under {@code dir}. */
    public static Databases start(Path dir) throws IOException {
        return new Databases(dir, EmbeddedPostgres.builder().start());
    }

    /** A new, empty database of kind {@code db}. */
    public StoreConfig fresh(Db db) {
        String name = "test" + created.incrementAndGet();
        return switch (db) {
            case H2 -> StoreConfig.embedded(dir.resolve(name));
            case POSTGRES -> {
                try (Connection c = pg.getPostgresDatabase().getConnection();
                        Statement s = c.createStatement()) {
                    s.execute("create database " + name);
                } catch (SQLException e) {
                    throw new IllegalStateException("cannot create database " + name, e);
                }
                yield new StoreConfig(pg.getJdbcUrl("postgres", name), "postgres", "");
            }
        };
    }

    @Override
    public void close() throws IOException {
        pg.close();
    }
}
