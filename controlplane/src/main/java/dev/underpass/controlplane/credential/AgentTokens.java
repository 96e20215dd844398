package dev.underpass.controlplane.credential;

import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import java.net.SocketAddress;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Agent tokens: the credential an agent presents when it opens its session. They belong to an
 * account; the token text is shown once, then only its SHA-256 is kept.
 */
public final class AgentTokens {
    public record View(
            String id,
            String name,
            String prefix,
            Instant expiresAt,
            Instant lastUsedAt,
            Instant createdAt,
            Instant revokedAt,
            CredentialStatus status) {}

    /** A new token: the only time {@code token} is shown. */
    public record Created(View agentToken, String token) {}

    public record CreateRequest(String name, Instant expiresAt) {}

    /** The account an agent acts for, and the token it used. */
    public record Identity(String account, String tokenId, String tokenName) {}

    private final Jdbi jdbi;
    private final Clock clock;
    private final Consumer<String> revoked;
    private final AuthFailures failures;
    private final AuditLog audit;

    public AgentTokens(Jdbi jdbi, Clock clock, Consumer<String> revoked, AuthFailures failures, AuditLog audit) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.revoked = revoked;
        this.failures = failures;
        this.audit = audit;
    }

    /**
     * As {@link #verify(String)} for an agent at {@code from}, counting failed attempts: a token
     * the store refuses counts against its source and prefix (and its refusal is remembered for a
     * while, so that retrying it costs no lookup); a correct token is accepted whatever the counts say.
     *
     * @throws Refused TOO_MANY_ATTEMPTS (with {@code retry-after}) instead of an empty answer once the source
     *                      or the token's prefix has failed too often
     */
    public Optional<Identity> verify(String token, SocketAddress from) {
        try {
            return Optional.of(failures.lookup(
                    token,
                    () -> verify(token).orElseThrow(() -> Refused.unauthenticated("agent token not recognised"))));
        } catch (Refused e) {
            if (e.kind() != Refused.Kind.UNAUTHENTICATED) {
                throw e;
            }
            failures.failed(from, token, "agent session").ifPresent(over -> {
                throw over.exception();
            });
            return Optional.empty();
        }
    }

    /** Who a presented token belongs to; empty when it is unknown, revoked or expired. */
    public Optional<Identity> verify(String token) {
        Instant now = clock.instant();
        return jdbi.inTransaction(h -> {
            var found = h.createQuery(
                            "select t.seq, t.id, t.name, t.expires_at, t.revoked_at, t.last_used_at, a.name as account "
                                    + "from agent_tokens t join accounts a on a.seq = t.account_seq where t.secret_sha256 = :h")
                    .bind("h", Secrets.sha256Hex(token))
                    .map((rs, ctx) -> new Found(
                            rs.getLong("seq"),
                            new Identity(rs.getString("account"), rs.getString("id"), rs.getString("name")),
                            CredentialStatus.of(Sql.instant(rs, "revoked_at"), Sql.instant(rs, "expires_at"), now),
                            Sql.instant(rs, "last_used_at")))
                    .findOne()
                    .orElse(null);
            if (found == null || found.status() != CredentialStatus.ACTIVE) {
                return Optional.<Identity>empty();
            }
            if (found.lastUsed() == null || found.lastUsed().isBefore(now.minus(Credentials.LAST_USED_RESOLUTION))) {
                h.createUpdate("update agent_tokens set last_used_at = :t where seq = :s")
                        .bind("t", Sql.at(now))
                        .bind("s", found.seq())
                        .execute();
            }
            return Optional.of(found.identity());
        });
    }

    private record Found(long seq, Identity identity, CredentialStatus status, Instant lastUsed) {}

    /** Which of {@code ids} can no longer open a session: revoked, expired or gone. */
    public Set<String> inactive(Collection<String> ids) {
        if (ids.isEmpty()) {
            return Set.of();
        }
        Instant now = clock.instant();
        Set<String> active = new HashSet<>(jdbi.withHandle(
                h -> h.createQuery("select id from agent_tokens where id in (<ids>) and revoked_at is null "
                                + "and (expires_at is null or expires_at > :now)")
                        .bindList("ids", List.copyOf(ids))
                        .bind("now", Sql.at(now))
                        .mapTo(String.class)
                        .list()));
        Set<String> result = new HashSet<>(ids);
        result.removeAll(active);
        return result;
    }

    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.AGENT_TOKENS_READ);
        Instant now = clock.instant();
        List<Row> rows = jdbi.withHandle(
                h -> h.createQuery(SELECT + " where account_seq = :a and seq > :after order by seq limit :n")
                        .bind("a", p.accountSeq())
                        .bind("after", page.after())
                        .bind("n", page.limit() + 1)
                        .map((rs, ctx) -> row(rs, now))
                        .list());
        return Page.of(rows, page, Row::seq).map(Row::view);
    }

    public Created create(Principal p, CreateRequest request) {
        p.require(Scope.AGENT_TOKENS_WRITE);
        Instant now = clock.instant();
        List<String> errors = new ArrayList<>();
        Names.check(errors, "name", request == null ? null : request.name());
        if (request != null) {
            Credentials.checkExpiry(errors, request.expiresAt(), now);
        }
        Names.reject(errors);
        return jdbi.inTransaction(h -> {
            Created created = insert(h, p, request.name(), request.expiresAt());
            audit.record(
                    h,
                    p,
                    "agentToken.create",
                    "agentToken:" + created.agentToken().id(),
                    details(created.agentToken()));
            return created;
        });
    }

    private Created insert(Handle h, Principal p, String name, Instant expiresAt) {
        String token = Secrets.agentToken();
        String id = Secrets.id("agt-", 16);
        Instant now = clock.instant();
        h.createUpdate(
                        "insert into agent_tokens (id, account_seq, name, prefix, secret_sha256, expires_at, created_at, "
                                + "created_by) values (:id, :a, :n, :p, :h, :e, :t, :by)")
                .bind("id", id)
                .bind("a", p.accountSeq())
                .bind("n", name)
                .bind("p", Secrets.shownPrefix(token))
                .bind("h", Secrets.sha256Hex(token))
                .bind("e", Sql.at(expiresAt))
                .bind("t", Sql.at(now))
                .bind("by", p.actor())
                .execute();
        return new Created(
                new View(id, name, Secrets.shownPrefix(token), expiresAt, null, now, null, CredentialStatus.ACTIVE),
                token);
    }

    /** A new token like {@code id}; the old one keeps working for the grace period, so agents can be re-deployed. */
    public Created rotate(Principal p, String id, ApiKeys.RotateRequest request) {
        p.require(Scope.AGENT_TOKENS_WRITE);
        var grace = Credentials.grace(request == null ? null : request.gracePeriodSeconds());
        Instant now = clock.instant();
        return jdbi.inTransaction(h -> {
            Row old = require(h, p, id, now);
            if (old.view().status() != CredentialStatus.ACTIVE) {
                throw Refused.conflict("agent token " + id + " is " + old.view().status()
                        + " (expected: an active token; create a new one instead)");
            }
            Created fresh = insert(h, p, old.view().name(), old.view().expiresAt());
            h.createUpdate("update agent_tokens set expires_at = :e where seq = :s")
                    .bind("e", Sql.at(Credentials.endOfGrace(old.view().expiresAt(), now, grace)))
                    .bind("s", old.seq())
                    .execute();
            Map<String, Object> details = details(fresh.agentToken());
            details.put("newTokenId", fresh.agentToken().id());
            details.put("oldTokenExpiresAt", Credentials.endOfGrace(old.view().expiresAt(), now, grace));
            audit.record(h, p, "agentToken.rotate", "agentToken:" + id, details);
            return fresh;
        });
    }

    /** Revokes a token: its live sessions end, and new ones are refused. */
    public View revoke(Principal p, String id) {
        p.require(Scope.AGENT_TOKENS_WRITE);
        Instant now = clock.instant();
        View v = jdbi.inTransaction(h -> {
            Row row = require(h, p, id, now);
            if (row.view().revokedAt() == null) {
                h.createUpdate("update agent_tokens set revoked_at = :t where seq = :s")
                        .bind("t", Sql.at(now))
                        .bind("s", row.seq())
                        .execute();
                audit.record(
                        h,
                        p,
                        "agentToken.revoke",
                        "agentToken:" + id,
                        Map.of("name", row.view().name(), "prefix", row.view().prefix()));
            }
            return require(h, p, id, now).view();
        });
        revoked.accept(id);
        return v;
    }

    /** What a token's record says of it: never the token itself, only its shown prefix. */
    private static Map<String, Object> details(View v) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("name", v.name());
        d.put("prefix", v.prefix());
        if (v.expiresAt() != null) {
            d.put("expiresAt", v.expiresAt());
        }
        return d;
    }

    private Row require(Handle h, Principal p, String id, Instant now) {
        return h.createQuery(SELECT + " where id = :id and account_seq = :a")
                .bind("id", id)
                .bind("a", p.accountSeq())
                .map((rs, ctx) -> row(rs, now))
                .findOne()
                .orElseThrow(() -> Refused.notFound("agent token " + id));
    }

    private static final String SELECT =
            "select seq, id, name, prefix, expires_at, last_used_at, created_at, revoked_at " + "from agent_tokens";

    private static Row row(java.sql.ResultSet rs, Instant now) throws java.sql.SQLException {
        Instant expires = Sql.instant(rs, "expires_at");
        Instant revoked = Sql.instant(rs, "revoked_at");
        return new Row(
                rs.getLong("seq"),
                new View(
                        rs.getString("id"),
                        rs.getString("name"),
                        rs.getString("prefix"),
                        expires,
                        Sql.instant(rs, "last_used_at"),
                        Sql.instant(rs, "created_at"),
                        revoked,
                        CredentialStatus.of(revoked, expires, now)));
    }

    private record Row(long seq, View view) {}
}
