package dev.underpass.controlplane.tenancy;

import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Sql;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * The users of an account, each with one role. Nobody grants a role above their own, and an
 * account always keeps at least one owner.
 */
public final class Users {
    /** {@code oidcSubject}: the {@code sub} that logs in as this user through OIDC (ADR 13), or null. */
    public record View(String name, Role role, Instant createdAt, String oidcSubject) {
        public View(String name, Role role, Instant createdAt) {
            this(name, role, createdAt, null);
        }
    }

    public record CreateRequest(String name, Role role, String oidcSubject) {
        public CreateRequest(String name, Role role) {
            this(name, role, null);
        }
    }

    /**
     * A new role, a new {@code oidcSubject} ({@code ""} removes it), or both; {@code users:write}
     * as for any change of a user. A subject is unique within its account only (ADR 13).
     */
    public record UpdateRequest(Role role, String oidcSubject) {
        public UpdateRequest(Role role) {
            this(role, null);
        }
    }

    static final int MAX_OIDC_SUBJECT = 512;

    private final Jdbi jdbi;
    private final Clock clock;
    private final AuditLog audit;

    public Users(Jdbi jdbi, Clock clock, AuditLog audit) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.audit = audit;
    }

    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.USERS_READ);
        List<Row> rows =
                jdbi.withHandle(h -> h.createQuery("select seq, name, role, created_at, oidc_subject from users "
                                + "where account_seq = :a and seq > :after order by seq limit :n")
                        .bind("a", p.accountSeq())
                        .bind("after", page.after())
                        .bind("n", page.limit() + 1)
                        .map((rs, ctx) -> row(rs))
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
        if (request != null && request.oidcSubject() != null) {
            checkOidcSubject(errors, request.oidcSubject());
        }
        Names.reject(errors);
        requireGrantable(p, request.role());
        Instant now = clock.instant();
        return jdbi.inTransaction(h -> {
            if (find(h, p.accountSeq(), request.name()) != null) {
                throw Refused.conflict("user '" + request.name() + "' already exists in account " + p.account());
            }
            requireFreeSubject(h, p, request.oidcSubject());
            h.createUpdate(
                            "insert into users (account_seq, name, role, created_at, oidc_subject) values (:a, :n, :r, :t, :o)")
                    .bind("a", p.accountSeq())
                    .bind("n", request.name())
                    .bind("r", request.role().text())
                    .bind("t", Sql.at(now))
                    .bind("o", request.oidcSubject())
                    .execute();
            Map<String, Object> details =
                    new java.util.LinkedHashMap<>(Map.of("role", request.role().text()));
            if (request.oidcSubject() != null) {
                details.put("oidcSubject", request.oidcSubject());
            }
            audit.record(h, p, "user.create", "user:" + request.name(), details);
            return new View(request.name(), request.role(), now, request.oidcSubject());
        });
    }

    public View update(Principal p, String name, UpdateRequest request) {
        p.require(Scope.USERS_WRITE);
        if (request == null || (request.role() == null && request.oidcSubject() == null)) {
            throw Refused.invalid(List.of("role: missing (expected: owner, admin, member or viewer; or oidcSubject)"));
        }
        if (request.oidcSubject() != null && !request.oidcSubject().isEmpty()) {
            List<String> errors = new ArrayList<>();
            checkOidcSubject(errors, request.oidcSubject());
            Names.reject(errors);
        }
        if (request.role() != null) {
            requireGrantable(p, request.role());
        }
        return jdbi.inTransaction(h -> {
            Row user = require(h, p, name);
            requireGrantable(p, user.view().role());
            Role role = request.role() != null ? request.role() : user.view().role();
            if (user.view().role() == Role.OWNER && role != Role.OWNER) {
                requireAnotherOwner(h, p, name);
            }
            // "" removes the subject; absent keeps it.
            String subject = request.oidcSubject() == null
                    ? user.view().oidcSubject()
                    : request.oidcSubject().isEmpty() ? null : request.oidcSubject();
            if (subject != null && !subject.equals(user.view().oidcSubject())) {
                requireFreeSubject(h, p, subject);
            }
            h.createUpdate("update users set role = :r, oidc_subject = :o where seq = :s")
                    .bind("r", role.text())
                    .bind("o", subject)
                    .bind("s", user.seq())
                    .execute();
            Map<String, Object> details = new java.util.LinkedHashMap<>(Map.of(
                    "role", role.text(), "previousRole", user.view().role().text()));
            if (request.oidcSubject() != null) {
                details.put("oidcSubject", subject == null ? "" : subject);
            }
            audit.record(h, p, "user.update", "user:" + name, details);
            return new View(name, role, user.view().createdAt(), subject);
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
            h.createUpdate("delete from users where seq = :s")
                    .bind("s", user.seq())
                    .execute();
            audit.record(
                    h,
                    p,
                    "user.delete",
                    "user:" + name,
                    Map.of("role", user.view().role().text()));
        });
    }

    private static void checkOidcSubject(List<String> errors, String subject) {
        if (subject.isBlank() || subject.length() > MAX_OIDC_SUBJECT || Names.hasControlCharacters(subject)) {
            errors.add(
                    "oidcSubject: " + subject.length() + " characters (expected: the sub of the user's OIDC tokens, 1-"
                            + MAX_OIDC_SUBJECT + " printable characters)");
        }
    }

    /**
     * A subject logs in as one user of an account: an OIDC login names its account
     * ({@code underpass-account}), so only the caller's own account is searched, and other
     * accounts may link the same subject to users of theirs without either learning of it.
     */
    private static void requireFreeSubject(Handle h, Principal p, String subject) {
        if (subject == null) {
            return;
        }
        String other = h.createQuery("select name from users where account_seq = :a and oidc_subject = :o")
                .bind("a", p.accountSeq())
                .bind("o", subject)
                .mapTo(String.class)
                .findOne()
                .orElse(null);
        if (other != null) {
            throw Refused.conflict("oidcSubject: already linked to user '" + other + "' of account " + p.account()
                    + " (expected: a subject no other user of the account has; remove it from " + other + " first)");
        }
    }

    /** A role may be granted, or a user with it changed, only by a key that holds all of the role's scopes. */
    private static void requireGrantable(Principal p, Role role) {
        if (role.compareTo(p.role()) > 0) {
            throw Refused.forbidden("role " + role + " is above your own (" + p.role()
                    + "): only a user with that role or higher can grant it or change such a user");
        }
        if (!p.scopes().containsAll(role.scopes(p.operator()))) {
            throw Refused.forbidden("role " + role + " has scopes your key " + p.keyId() + " does not have: "
                    + "only a key with all of them can grant it or change such a user");
        }
    }

    private static void requireAnotherOwner(Handle h, Principal p, String name) {
        // Locks the account row, so that two owners demoting or removing each other at once cannot both pass.
        h.createQuery("select seq from accounts where seq = :a for update")
                .bind("a", p.accountSeq())
                .mapTo(Long.class)
                .one();
        long owners = h.createQuery(
                        "select count(*) from users where account_seq = :a and role = 'owner' and name <> :n")
                .bind("a", p.accountSeq())
                .bind("n", name)
                .mapTo(Long.class)
                .one();
        if (owners == 0) {
            throw Refused.conflict("user '" + name + "' is the last owner of account " + p.account()
                    + " (expected: make another user owner first)");
        }
    }

    static Row require(Handle h, Principal p, String name) {
        Row row = find(h, p.accountSeq(), name);
        if (row == null) {
            throw Refused.notFound("user '" + name + "'");
        }
        return row;
    }

    static Row find(Handle h, long accountSeq, String name) {
        return h.createQuery(
                        "select seq, name, role, created_at, oidc_subject from users where account_seq = :a and name = :n")
                .bind("a", accountSeq)
                .bind("n", name)
                .map((rs, ctx) -> row(rs))
                .findOne()
                .orElse(null);
    }

    private static Row row(java.sql.ResultSet rs) throws java.sql.SQLException {
        return new Row(
                rs.getLong("seq"),
                new View(
                        rs.getString("name"),
                        Role.parse(rs.getString("role")),
                        Sql.instant(rs, "created_at"),
                        rs.getString("oidc_subject")));
    }

    record Row(long seq, View view) {}
}
