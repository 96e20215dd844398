package dev.underpass.controlplane;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * The users of an account, each with one role. Nobody grants a role above their own, and an
 * account always keeps at least one owner.
 */
public final class Users {
    public record View(String name, Role role, Instant createdAt) {
    }

    public record CreateRequest(String name, Role role) {
    }

    public record UpdateRequest(Role role) {
    }

    private final Jdbi jdbi;
    private final Clock clock;

    Users(Jdbi jdbi, Clock clock) {
        this.jdbi = jdbi;
        this.clock = clock;
    }

    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.USERS_READ);
        List<Row> rows = jdbi.withHandle(h -> h.createQuery("select seq, name, role, created_at from users "
                        + "where account_seq = :a and seq > :after order by seq limit :n")
                .bind("a", p.accountSeq()).bind("after", page.after()).bind("n", page.limit() + 1)
                .map((rs, ctx) -> new Row(rs.getLong("seq"), new View(rs.getString("name"), Role.parse(rs.getString("role")),
                        Sql.instant(rs, "created_at"))))
                .list());
        return Page.of(rows, page, Row::seq).map(Row::view);
    }

    public View create(Principal p, CreateRequest request) {
        p.require(Scope.USERS_WRITE);
        List<String> errors = new ArrayList<>();
        Names.check(errors, "name", request == null ? null : request.name());
        if (request != null && request.role() == null) {
            errors.add("role: missing (expected: owner, admin, member or viewer)");
        }
        Names.reject(errors);
        requireGrantable(p, request.role());
        Instant now = clock.instant();
        return jdbi.inTransaction(h -> {
            if (find(h, p.accountSeq(), request.name()) != null) {
                throw new ApiException(409, "user '" + request.name() + "' already exists in account " + p.account());
            }
            h.createUpdate("insert into users (account_seq, name, role, created_at) values (:a, :n, :r, :t)")
                    .bind("a", p.accountSeq()).bind("n", request.name()).bind("r", request.role().text())
                    .bind("t", Sql.at(now)).execute();
            return new View(request.name(), request.role(), now);
        });
    }

    public View update(Principal p, String name, UpdateRequest request) {
        p.require(Scope.USERS_WRITE);
        if (request == null || request.role() == null) {
            throw ApiException.invalid(List.of("role: missing (expected: owner, admin, member or viewer)"));
        }
        requireGrantable(p, request.role());
        return jdbi.inTransaction(h -> {
            Row user = require(h, p, name);
            requireGrantable(p, user.view().role());
            if (user.view().role() == Role.OWNER && request.role() != Role.OWNER) {
                requireAnotherOwner(h, p, name);
            }
            h.createUpdate("update users set role = :r where seq = :s").bind("r", request.role().text())
                    .bind("s", user.seq()).execute();
            return new View(name, request.role(), user.view().createdAt());
        });
    }

    /** Removes a user and with it every API key of that user. */
    public void delete(Principal p, String name) {
        p.require(Scope.USERS_WRITE);
        jdbi.useTransaction(h -> {
            Row user = require(h, p, name);
            requireGrantable(p, user.view().role());
            if (user.view().role() == Role.OWNER) {
                requireAnotherOwner(h, p, name);
            }
            h.createUpdate("delete from users where seq = :s").bind("s", user.seq()).execute();
        });
    }

    /** A role may be granted, or a user with it changed, only by a key that holds all of the role's scopes. */
    private static void requireGrantable(Principal p, Role role) {
        if (role.compareTo(p.role()) > 0) {
            throw new ApiException(403, "role " + role + " is above your own (" + p.role()
                    + "): only a user with that role or higher can grant it or change such a user");
        }
        if (!p.scopes().containsAll(role.scopes(p.operator()))) {
            throw new ApiException(403, "role " + role + " has scopes your key " + p.keyId() + " does not have: "
                    + "only a key with all of them can grant it or change such a user");
        }
    }

    private static void requireAnotherOwner(Handle h, Principal p, String name) {
        // Locks the account row, so that two owners demoting or removing each other at once cannot both pass.
        h.createQuery("select seq from accounts where seq = :a for update").bind("a", p.accountSeq()).mapTo(Long.class).one();
        long owners = h.createQuery("select count(*) from users where account_seq = :a and role = 'owner' and name <> :n")
                .bind("a", p.accountSeq()).bind("n", name).mapTo(Long.class).one();
        if (owners == 0) {
            throw new ApiException(409, "user '" + name + "' is the last owner of account " + p.account()
                    + " (expected: make another user owner first)");
        }
    }

    static Row require(Handle h, Principal p, String name) {
        Row row = find(h, p.accountSeq(), name);
        if (row == null) {
            throw ApiException.notFound("user '" + name + "'");
        }
        return row;
    }

    static Row find(Handle h, long accountSeq, String name) {
        return h.createQuery("select seq, name, role, created_at from users where account_seq = :a and name = :n")
                .bind("a", accountSeq).bind("n", name)
                .map((rs, ctx) -> new Row(rs.getLong("seq"), new View(rs.getString("name"), Role.parse(rs.getString("role")),
                        Sql.instant(rs, "created_at"))))
                .findOne().orElse(null);
    }

    record Row(long seq, View view) {
    }
}
