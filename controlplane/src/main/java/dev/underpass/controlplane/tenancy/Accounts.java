package dev.underpass.controlplane.tenancy;

import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Sql;
import dev.underpass.controlplane.credential.ApiKeys;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Accounts (tenants), created by the platform operator. A new account gets its first user, an
 * owner, and that owner's first API key, shown once.
 */
public final class Accounts {
    public static final String OPERATOR_ACCOUNT = "operator";
    public static final String OPERATOR_USER = "admin";

    public record View(String name, boolean operator, Instant createdAt) {}

    /** A created account with its owner and the owner's first key (the only time it is shown). */
    public record Created(View account, Users.View owner, ApiKeys.Created ownerKey) {}

    /** A created account and its store seq, which the audit record needs. */
    private record Inserted(long seq, Created created) {}

    public record CreateRequest(String name, String owner) {}

    private final Jdbi jdbi;
    private final Clock clock;
    private final ApiKeys keys;
    private final AuditLog audit;

    public Accounts(Jdbi jdbi, Clock clock, ApiKeys keys, AuditLog audit) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.keys = keys;
        this.audit = audit;
    }

    /** Keeps the operator's first key somewhere only the operator can read. */
    public interface FirstKeyWriter {
        void write(String key) throws IOException;
    }

    /**
     * On a fresh store, creates the operator account with its owner and returns that owner's
     * first key; on a store that has accounts, returns empty.
     */
    public Optional<Created> bootstrap() {
        return bootstrap(key -> {});
    }

    /**
     * As {@link #bootstrap()}, handing the key to {@code writer} inside the same transaction: if
     * it cannot be kept, nothing is created, and the next start tries again.
     */
    public Optional<Created> bootstrap(FirstKeyWriter writer) {
        return jdbi.inTransaction(h -> {
            // Several nodes may start at once on an empty PostgreSQL: one of them bootstraps, the others wait and see
            // it.
            Sql.lockForTransaction(h, Sql.BOOTSTRAP_LOCK);
            long count = h.createQuery("select count(*) from accounts")
                    .mapTo(Long.class)
                    .one();
            if (count > 0) {
                return Optional.<Created>empty();
            }
            Inserted inserted = insert(h, OPERATOR_ACCOUNT, true, OPERATOR_USER, "gateway (first start)");
            Created created = inserted.created();
            audit.record(
                    h,
                    inserted.seq(),
                    AuditLog.SYSTEM,
                    "account.create",
                    "account:" + OPERATOR_ACCOUNT,
                    AuditLog.OK,
                    details(created));
            try {
                writer.write(created.ownerKey().key());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot keep the operator's first key: " + e.getMessage(), e);
            }
            return Optional.of(created);
        });
    }

    public Created create(Principal p, CreateRequest request) {
        p.require(Scope.ACCOUNTS_WRITE);
        List<String> errors = new ArrayList<>();
        Names.check(errors, "name", request == null ? null : request.name());
        String owner = request == null || request.owner() == null ? "owner" : request.owner();
        Names.check(errors, "owner", owner);
        Names.reject(errors);
        return jdbi.inTransaction(h -> {
            if (h.createQuery("select count(*) from accounts where name = :n")
                            .bind("n", request.name())
                            .mapTo(Long.class)
                            .one()
                    > 0) {
                throw Refused.conflict("account '" + request.name() + "' already exists (expected: a new name)");
            }
            Inserted inserted = insert(h, request.name(), false, owner, p.actor());
            Created created = inserted.created();
            // In the operator's chain and in the new account's own, which thus starts with its creation.
            audit.record(
                    h,
                    p.accountSeq(),
                    inserted.seq(),
                    p.actor(),
                    "account.create",
                    "account:" + request.name(),
                    AuditLog.OK,
                    details(created));
            return created;
        });
    }

    private static Map<String, Object> details(Created c) {
        return Map.of(
                "owner",
                c.owner().name(),
                "ownerKeyId",
                c.ownerKey().apiKey().id(),
                "ownerKeyPrefix",
                c.ownerKey().apiKey().prefix());
    }

    private Inserted insert(Handle h, String name, boolean operator, String ownerName, String actor) {
        Instant now = clock.instant();
        long seq = h.createUpdate("insert into accounts (name, operator, created_at) values (:n, :o, :t)")
                .bind("n", name)
                .bind("o", operator)
                .bind("t", Sql.at(now))
                .executeAndReturnGeneratedKeys("seq")
                .mapTo(Long.class)
                .one();
        long userSeq = h.createUpdate("insert into users (account_seq, name, role, created_at) values (:a, :n, :r, :t)")
                .bind("a", seq)
                .bind("n", ownerName)
                .bind("r", Role.OWNER.text())
                .bind("t", Sql.at(now))
                .executeAndReturnGeneratedKeys("seq")
                .mapTo(Long.class)
                .one();
        ApiKeys.Created key = keys.insert(h, seq, userSeq, ownerName, "first-key", null, null, actor);
        return new Inserted(
                seq, new Created(new View(name, operator, now), new Users.View(ownerName, Role.OWNER, now), key));
    }

    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.ACCOUNTS_READ);
        List<Row> rows = jdbi.withHandle(h -> h.createQuery(
                        "select seq, name, operator, created_at from accounts where seq > :after order by seq limit :n")
                .bind("after", page.after())
                .bind("n", page.limit() + 1)
                .map((rs, ctx) -> new Row(
                        rs.getLong("seq"),
                        new View(rs.getString("name"), rs.getBoolean("operator"), Sql.instant(rs, "created_at"))))
                .list());
        return Page.of(rows, page, Row::seq).map(Row::view);
    }

    private record Row(long seq, View view) {}
}
