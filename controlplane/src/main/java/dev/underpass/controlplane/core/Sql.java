package dev.underpass.controlplane.core;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;

/** Times go to the store as UTC offsets and come back as instants, the same on H2 and PostgreSQL. */
public final class Sql {
    private Sql() {}

    public static OffsetDateTime at(Instant instant) {
        return instant == null ? null : instant.atOffset(ZoneOffset.UTC);
    }

    /** The advisory lock that serialises the first start of several nodes on one empty store. */
    public static final long BOOTSTRAP_LOCK = 0x756e646572706173L; // "underpas"

    /**
     * Holds advisory lock {@code key} until the transaction of {@code h} ends, on PostgreSQL; the
     * embedded store has one gateway only, which needs no lock.
     */
    public static void lockForTransaction(org.jdbi.v3.core.Handle h, long key) {
        try {
            if (!"PostgreSQL".equals(h.getConnection().getMetaData().getDatabaseProductName())) {
                return;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot tell which database the store is: " + e.getMessage(), e);
        }
        h.createQuery("select count(*) from (select pg_advisory_xact_lock(:k)) l")
                .bind("k", key)
                .mapTo(Long.class)
                .one();
    }

    public static Instant instant(ResultSet rs, String column) throws SQLException {
        OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
        return t == null ? null : t.toInstant();
    }
}
