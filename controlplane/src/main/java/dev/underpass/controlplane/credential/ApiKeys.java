package dev.underpass.controlplane.credential;

import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import java.net.SocketAddress;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * API keys: a user's credential for the API and the forward proxy. A key acts with its user's
 * role, narrowed by the key's scopes when it has any; the key text is shown once, then only its
 * SHA-256 is kept.
 */
public final class ApiKeys {
    /** Scopes stored for a key that follows its user's role. */
    private static final String ALL_OF_ROLE = "*";

    /** A key as lists show it; {@code scopes} is absent when the key has all of its user's role. */
    public record View(
            String id,
            String name,
            String user,
            String prefix,
            List<Scope> scopes,
            Instant expiresAt,
            Instant lastUsedAt,
            Instant createdAt,
            Instant revokedAt,
            CredentialStatus status) {}

    /** A new key: the only time {@code key} is shown. */
    public record Created(View apiKey, String key) {}

    public record CreateRequest(String name, String user, List<Scope> scopes, Instant expiresAt) {}

    public record RotateRequest(Long gracePeriodSeconds) {}

    private final Jdbi jdbi;
    private final Clock clock;
    private final AuthFailures failures;
    private final AuditLog audit;

    public ApiKeys(Jdbi jdbi, Clock clock, AuthFailures failures, AuditLog audit) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.failures = failures;
        this.audit = audit;
    }

    /**
     * As {@link #authenticate(String)} for a caller at {@code from}, counting failed attempts: a
     * key the store refuses counts against its source and prefix (and its refusal is remembered
     * for a while, so that retrying it costs no lookup); a correct key is accepted whatever the
     * counts say.
     *
     * @param where who asks, for the log: "API", "HTTP proxy"...
     * @throws Refused UNAUTHENTICATED as {@link #authenticate(String)}, or instead 429 (with {@code retry-after})
     *                      once the source or the key's prefix has failed too often
     */
    public Principal authenticate(String key, SocketAddress from, String where) {
        if (key == null || key.isEmpty()) {
            return authenticate(key); // nothing to look up, nothing to count
        }
        try {
            return failures.lookup(key, () -> authenticate(key));
        } catch (Refused e) {
            throw e.kind() != Refused.Kind.UNAUTHENTICATED ? e : failures.refused(e, from, key, where);
        }
    }

    /**
     * The principal a key stands for, checked on every request (a revoked or expired key is
     * refused at once).
     *
     * @throws Refused UNAUTHENTICATED when the key is unknown, revoked or expired
     */
    public Principal authenticate(String key) {
        if (key == null || key.isEmpty()) {
            throw Refused.unauthenticated(
                    "no API key (expected: an Authorization header: Bearer upk_...; run 'underpass login')");
        }
        return principal(
                "k.secret_sha256", Secrets.sha256Hex(key), "API key not recognised: it is unknown or was revoked");
    }

    /**
     * What key {@code id} acts as now: a web console session signed in with it acts as the key
     * does, and ends when the key is revoked, deleted or expired.
     *
     * @throws Refused UNAUTHENTICATED when the key is gone, revoked or expired
     */
    public Principal principalOfKey(String id) {
        return principal("k.id", id, "the API key this session signed in with was revoked or deleted: sign in again");
    }

    /** The principal of the key whose {@code column} (a constant of this class) is {@code value}. */
    private Principal principal(String column, String value, String unknown) {
        Instant now = clock.instant();
        return jdbi.inTransaction(h -> {
            Auth a = h.createQuery("select k.seq, k.id, k.scopes, k.expires_at, k.revoked_at, k.last_used_at, "
                            + "u.seq as user_seq, u.name as user_name, u.role, a.seq as account_seq, a.name as account_name, "
                            + "a.operator from api_keys k join users u on u.seq = k.user_seq "
                            + "join accounts a on a.seq = k.account_seq where " + column + " = :v")
                    .bind("v", value)
                    .map((rs, ctx) -> new Auth(
                            rs.getLong("seq"),
                            rs.getString("id"),
                            rs.getString("scopes"),
                            Sql.instant(rs, "expires_at"),
                            Sql.instant(rs, "revoked_at"),
                            Sql.instant(rs, "last_used_at"),
                            rs.getLong("user_seq"),
                            rs.getString("user_name"),
                            Role.parse(rs.getString("role")),
                            rs.getLong("account_seq"),
                            rs.getString("account_name"),
                            rs.getBoolean("operator")))
                    .findOne()
                    .orElse(null);
            if (a == null || a.revokedAt() != null) {
                throw Refused.unauthenticated(unknown);
            }
            if (a.expiresAt() != null && !a.expiresAt().isAfter(now)) {
                throw Refused.unauthenticated("API key " + a.id() + " expired at " + a.expiresAt()
                        + " (expected: a current key; create one with 'underpass key create')");
            }
            if (a.lastUsedAt() == null || a.lastUsedAt().isBefore(now.minus(Credentials.LAST_USED_RESOLUTION))) {
                h.createUpdate("update api_keys set last_used_at = :t where seq = :s")
                        .bind("t", Sql.at(now))
                        .bind("s", a.seq())
                        .execute();
            }
            Set<Scope> scopes = a.role().scopes(a.operator());
            if (!ALL_OF_ROLE.equals(a.scopes())) {
                scopes.retainAll(parseScopes(a.scopes()));
            }
            return new Principal(
                    a.accountSeq(),
                    a.account(),
                    a.operator(),
                    a.userSeq(),
                    a.user(),
                    a.role(),
                    scopes,
                    a.id(),
                    a.expiresAt());
        });
    }

    private record Auth(
            long seq,
            String id,
            String scopes,
            Instant expiresAt,
            Instant revokedAt,
            Instant lastUsedAt,
            long userSeq,
            String user,
            Role role,
            long accountSeq,
            String account,
            boolean operator) {}

    /** The caller's own keys; an admin (users:write) sees every key of the account. */
    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.KEYS_READ);
        boolean all = p.can(Scope.USERS_WRITE);
        Instant now = clock.instant();
        List<Row> rows = jdbi.withHandle(h -> h.createQuery(SELECT + " where k.account_seq = :a"
                        + (all ? "" : " and k.user_seq = :u") + " and k.seq > :after order by k.seq limit :n")
                .bind("a", p.accountSeq())
                .bind("u", p.userSeq())
                .bind("after", page.after())
                .bind("n", page.limit() + 1)
                .map((rs, ctx) -> row(rs, now))
                .list());
        return Page.of(rows, page, Row::seq).map(Row::view);
    }

    public Created create(Principal p, CreateRequest request) {
        p.require(Scope.KEYS_WRITE);
        Instant now = clock.instant();
        List<String> errors = new ArrayList<>();
        Names.check(errors, "name", request == null ? null : request.name());
        if (request != null) {
            Credentials.checkExpiry(errors, request.expiresAt(), now);
            if (request.scopes() != null && request.scopes().isEmpty()) {
                errors.add("scopes: [] (expected: at least one scope, or none given for all of the user's role)");
            }
            if (request.scopes() != null && request.scopes().stream().anyMatch(java.util.Objects::isNull)) {
                errors.add("scopes: null entry (expected: scope names such as services:read)");
            }
        }
        Names.reject(errors);
        // A key cannot outlive the key that creates it: without an expiry of its own it gets the creator's.
        Instant expiresAt = request.expiresAt() == null ? p.keyExpiresAt() : request.expiresAt();
        if (p.keyExpiresAt() != null && expiresAt.isAfter(p.keyExpiresAt())) {
            throw Refused.invalid(List.of("expiresAt: " + expiresAt + " (expected: no later than " + p.keyExpiresAt()
                    + ", when your own key " + p.keyId() + " expires)"));
        }
        String userName = request.user() == null ? p.user() : request.user();
        return jdbi.inTransaction(h -> {
            KeyHolder user = holder(h, p, userName);
            if (user.seq() != p.userSeq()) {
                p.require(Scope.USERS_WRITE);
                if (user.role().compareTo(p.role()) > 0) {
                    throw Refused.forbidden("user '" + userName + "' has role " + user.role() + ", above your own ("
                            + p.role() + "): you cannot create keys for that user");
                }
            }
            Set<Scope> scopes = request.scopes() == null ? null : EnumSet.copyOf(request.scopes());
            Set<Scope> userScopes = user.role().scopes(p.operator());
            if (scopes == null && !p.scopes().containsAll(userScopes)) {
                scopes = EnumSet.copyOf(p.scopes()); // a narrowed key can only make keys as narrow as itself
                scopes.retainAll(userScopes);
            }
            if (scopes != null) {
                for (Scope s : scopes) {
                    if (!p.can(s) || !userScopes.contains(s)) {
                        throw Refused.forbidden("scope " + s + " cannot be granted: "
                                + (p.can(s)
                                        ? "user '" + userName + "' (role " + user.role() + ") does not have it"
                                        : "your key does not have it"));
                    }
                }
            }
            Created created =
                    insert(h, p.accountSeq(), user.seq(), userName, request.name(), scopes, expiresAt, p.actor());
            audit.record(h, p, "apiKey.create", "apiKey:" + created.apiKey().id(), details(created.apiKey()));
            return created;
        });
    }

    /** The user a key is made for: read here rather than through {@code tenancy.Users}, which builds on keys. */
    private record KeyHolder(long seq, Role role) {}

    private static KeyHolder holder(Handle h, Principal p, String name) {
        return h.createQuery("select seq, role from users where account_seq = :a and name = :n")
                .bind("a", p.accountSeq())
                .bind("n", name)
                .map((rs, ctx) -> new KeyHolder(rs.getLong("seq"), Role.parse(rs.getString("role"))))
                .findOne()
                .orElseThrow(() -> Refused.notFound("user '" + name + "'"));
    }

    /** Inserts a key in {@code h}'s transaction; also for {@code Accounts}, whose first owner gets one. */
    public Created insert(
            Handle h,
            long accountSeq,
            long userSeq,
            String userName,
            String name,
            Set<Scope> scopes,
            Instant expiresAt,
            String actor) {
        String key = Secrets.apiKey();
        String id = Secrets.id("key-", 16);
        Instant now = clock.instant();
        String scopeText = scopes == null
                ? ALL_OF_ROLE
                : scopes.stream().map(Scope::text).sorted().collect(Collectors.joining(" "));
        long seq = h.createUpdate(
                        "insert into api_keys (id, account_seq, user_seq, name, prefix, secret_sha256, scopes, "
                                + "expires_at, created_at, created_by) values (:id, :a, :u, :n, :p, :h, :s, :e, :t, :by)")
                .bind("id", id)
                .bind("a", accountSeq)
                .bind("u", userSeq)
                .bind("n", name)
                .bind("p", Secrets.shownPrefix(key))
                .bind("h", Secrets.sha256Hex(key))
                .bind("s", scopeText)
                .bind("e", Sql.at(expiresAt))
                .bind("t", Sql.at(now))
                .bind("by", actor)
                .executeAndReturnGeneratedKeys("seq")
                .mapTo(Long.class)
                .one();
        View view = new View(
                id,
                name,
                userName,
                Secrets.shownPrefix(key),
                shownScopes(scopeText),
                expiresAt,
                null,
                now,
                null,
                CredentialStatus.ACTIVE);
        return new Created(view, key);
    }

    /** A new key like key {@code id}; the old one keeps working for the grace period, then expires. */
    public Created rotate(Principal p, String id, RotateRequest request) {
        p.require(Scope.KEYS_WRITE);
        var grace = Credentials.grace(request == null ? null : request.gracePeriodSeconds());
        Instant now = clock.instant();
        return jdbi.inTransaction(h -> {
            Row old = require(h, p, id, now);
            if (old.view().status() != CredentialStatus.ACTIVE) {
                throw Refused.conflict("API key " + id + " is " + old.view().status()
                        + " (expected: an active key; create a new one instead)");
            }
            Set<Scope> scopes = old.view().scopes() == null
                    ? null
                    : EnumSet.copyOf(old.view().scopes());
            Set<Scope> effective = old.role().scopes(p.operator());
            if (scopes != null) {
                effective.retainAll(scopes);
            }
            if (!p.scopes().containsAll(effective)) {
                // Rotation hands out a key as broad as the old one: only a caller at least as broad may.
                throw Refused.forbidden("API key " + id + " has scopes your key does not have; rotate it with a key "
                        + "that has all of them, or create a narrower key instead");
            }
            Created fresh = insert(
                    h,
                    p.accountSeq(),
                    old.userSeq(),
                    old.view().user(),
                    old.view().name(),
                    scopes,
                    old.view().expiresAt(),
                    p.actor());
            h.createUpdate("update api_keys set expires_at = :e where seq = :s")
                    .bind("e", Sql.at(Credentials.endOfGrace(old.view().expiresAt(), now, grace)))
                    .bind("s", old.seq())
                    .execute();
            Map<String, Object> details = details(fresh.apiKey());
            details.put("newKeyId", fresh.apiKey().id());
            details.put("oldKeyExpiresAt", Credentials.endOfGrace(old.view().expiresAt(), now, grace));
            audit.record(h, p, "apiKey.rotate", "apiKey:" + id, details);
            return fresh;
        });
    }

    public View revoke(Principal p, String id) {
        p.require(Scope.KEYS_WRITE);
        Instant now = clock.instant();
        return jdbi.inTransaction(h -> {
            Row row = require(h, p, id, now);
            if (row.view().revokedAt() == null) {
                h.createUpdate("update api_keys set revoked_at = :t where seq = :s")
                        .bind("t", Sql.at(now))
                        .bind("s", row.seq())
                        .execute();
                audit.record(
                        h,
                        p,
                        "apiKey.revoke",
                        "apiKey:" + id,
                        Map.of(
                                "name",
                                row.view().name(),
                                "user",
                                row.view().user(),
                                "prefix",
                                row.view().prefix()));
            }
            return require(h, p, id, now).view();
        });
    }

    /** What a key's record says of it: never the key itself, only its shown prefix. */
    private static Map<String, Object> details(View v) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("name", v.name());
        d.put("user", v.user());
        d.put("prefix", v.prefix());
        d.put(
                "scopes",
                v.scopes() == null
                        ? "all of the user's role"
                        : v.scopes().stream().map(Scope::text).toList());
        if (v.expiresAt() != null) {
            d.put("expiresAt", v.expiresAt());
        }
        return d;
    }

    /**
     * Key {@code id} if the caller may manage it: its own, or for an admin any key of a user whose
     * role is not above the caller's.
     */
    private Row require(Handle h, Principal p, String id, Instant now) {
        Row row = h.createQuery(SELECT + " where k.id = :id and k.account_seq = :a")
                .bind("id", id)
                .bind("a", p.accountSeq())
                .map((rs, ctx) -> row(rs, now))
                .findOne()
                .orElse(null);
        if (row == null || (row.userSeq() != p.userSeq() && !p.can(Scope.USERS_WRITE))) {
            throw Refused.notFound("API key " + id);
        }
        if (row.role().compareTo(p.role()) > 0) {
            throw Refused.forbidden("API key " + id + " belongs to user '"
                    + row.view().user() + "' with role " + row.role() + ", above your own (" + p.role() + ")");
        }
        return row;
    }

    private static final String SELECT =
            "select k.seq, k.id, k.name, k.user_seq, u.name as user_name, u.role, k.prefix, "
                    + "k.scopes, k.expires_at, k.last_used_at, k.created_at, k.revoked_at from api_keys k "
                    + "join users u on u.seq = k.user_seq";

    private static Row row(java.sql.ResultSet rs, Instant now) throws java.sql.SQLException {
        Instant expires = Sql.instant(rs, "expires_at");
        Instant revoked = Sql.instant(rs, "revoked_at");
        return new Row(
                rs.getLong("seq"),
                rs.getLong("user_seq"),
                Role.parse(rs.getString("role")),
                new View(
                        rs.getString("id"),
                        rs.getString("name"),
                        rs.getString("user_name"),
                        rs.getString("prefix"),
                        shownScopes(rs.getString("scopes")),
                        expires,
                        Sql.instant(rs, "last_used_at"),
                        Sql.instant(rs, "created_at"),
                        revoked,
                        CredentialStatus.of(revoked, expires, now)));
    }

    private static List<Scope> shownScopes(String text) {
        return ALL_OF_ROLE.equals(text) ? null : List.copyOf(parseScopes(text));
    }

    private static Set<Scope> parseScopes(String text) {
        EnumSet<Scope> s = EnumSet.noneOf(Scope.class);
        Arrays.stream(text.split(" "))
                .filter(t -> !t.isEmpty())
                .map(Scope::parse)
                .forEach(s::add);
        return s;
    }

    private record Row(long seq, long userSeq, Role role, View view) {}
}
