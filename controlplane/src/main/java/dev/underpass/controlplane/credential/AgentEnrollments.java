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
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;

/**
 * Mutual-TLS enrollment of agents (docs/adr/0015-agent-enrollment-and-encryption-at-rest.md): an
 * account admin creates a one-time enrollment token; an agent exchanges it, once, for a client
 * certificate that the gateway's agent CA signs (see {@link Issuer}); the gateway then knows the
 * agent by that certificate's SHA-256 fingerprint. Tokens are kept as SHA-256 only; revoking a
 * certificate ends its live sessions through the same listeners as a revoked agent token.
 */
public final class AgentEnrollments {
    public static final Duration DEFAULT_TOKEN_LIFETIME = Duration.ofHours(1);
    public static final Duration MAX_TOKEN_LIFETIME = Duration.ofDays(1);
    /** Every certificate id (the certificate's common name, and its sessions' credential id) starts with this. */
    public static final String CERTIFICATE_ID_PREFIX = "agc-";

    public record View(
            String id,
            String name,
            String prefix,
            Instant expiresAt,
            Instant usedAt,
            Instant createdAt,
            EnrollmentStatus status) {}

    /** A new enrollment: the only time {@code token} is shown. */
    public record Created(View enrollment, String token) {}

    public record CreateRequest(String name, Long expiresInSeconds) {}

    public record CertificateView(
            String id,
            String name,
            String serial,
            String fingerprint,
            Instant notAfter,
            Instant revokedAt,
            String enrollmentId,
            Instant createdAt,
            CredentialStatus status) {}

    /** Signs the agent's key into a client certificate; the gateway holds the CA, so it implements this. */
    public interface Issuer {
        /** A certificate for {@code certificateId} (its common name), for agent {@code name} of {@code account}. */
        Issued issue(String certificateId, String account, String name);
    }

    /** What the issuer signed: the serial (hex), SHA-256 of the DER certificate (hex), expiry and the PEM chain. */
    public record Issued(String serial, String fingerprintSha256, Instant notAfter, String pemChain) {}

    /** The identity of a presented certificate, or why it is refused ({@code identity} then null). */
    public record CertificateCheck(AgentTokens.Identity identity, String refusal) {}

    private final Jdbi jdbi;
    private final Clock clock;
    private final Consumer<String> revoked;
    private final AuthFailures failures;
    private final AuditLog audit;

    public AgentEnrollments(Jdbi jdbi, Clock clock, Consumer<String> revoked, AuthFailures failures, AuditLog audit) {
        this.audit = Objects.requireNonNull(audit, "audit");
        this.jdbi = jdbi;
        this.clock = clock;
        this.revoked = revoked;
        this.failures = failures;
    }

    public Created create(Principal p, CreateRequest request) {
        p.require(Scope.AGENT_TOKENS_WRITE);
        List<String> errors = new ArrayList<>();
        Names.check(errors, "name", request == null ? null : request.name());
        Long seconds = request == null ? null : request.expiresInSeconds();
        if (seconds != null && (seconds < 1 || seconds > MAX_TOKEN_LIFETIME.toSeconds())) {
            errors.add("expiresInSeconds: " + seconds + " (expected: 1-" + MAX_TOKEN_LIFETIME.toSeconds() + ")");
        }
        Names.reject(errors);
        Instant now = clock.instant();
        Instant expires = now.plus(seconds == null ? DEFAULT_TOKEN_LIFETIME : Duration.ofSeconds(seconds));
        String token = Secrets.enrollmentToken();
        String id = Secrets.id("enr-", 16);
        jdbi.useTransaction(h -> {
            h.createUpdate("insert into agent_enrollments (id, account_seq, name, prefix, secret_sha256, "
                            + "expires_at, created_at, created_by) values (:id, :a, :n, :p, :h, :e, :t, :by)")
                    .bind("id", id)
                    .bind("a", p.accountSeq())
                    .bind("n", request.name())
                    .bind("p", Secrets.shownPrefix(token))
                    .bind("h", Secrets.sha256Hex(token))
                    .bind("e", Sql.at(expires))
                    .bind("t", Sql.at(now))
                    .bind("by", p.actor())
                    .execute();
            audit.record(
                    h,
                    p,
                    "agentEnrollment.create",
                    "agentEnrollment:" + id,
                    Map.of(
                            "name",
                            request.name(),
                            "prefix",
                            Secrets.shownPrefix(token),
                            "expiresAt",
                            expires.toString()));
        });
        return new Created(
                new View(id, request.name(), Secrets.shownPrefix(token), expires, null, now, EnrollmentStatus.PENDING),
                token);
    }

    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.AGENT_TOKENS_READ);
        Instant now = clock.instant();
        List<Row<View>> rows = jdbi.withHandle(h -> h.createQuery(
                        "select seq, id, name, prefix, expires_at, used_at, created_at "
                                + "from agent_enrollments where account_seq = :a and seq > :after order by seq limit :n")
                .bind("a", p.accountSeq())
                .bind("after", page.after())
                .bind("n", page.limit() + 1)
                .map((rs, ctx) -> new Row<>(rs.getLong("seq"), enrollment(rs, now)))
                .list());
        return Page.of(rows, page, Row::seq).map(Row::view);
    }

    /** Deletes an enrollment: an unused token stops working; certificates it gave keep working (revoke those). */
    public void delete(Principal p, String id) {
        p.require(Scope.AGENT_TOKENS_WRITE);
        jdbi.useTransaction(h -> {
            String name = h.createQuery("select name from agent_enrollments where id = :id and account_seq = :a")
                    .bind("id", id)
                    .bind("a", p.accountSeq())
                    .mapTo(String.class)
                    .findOne()
                    .orElseThrow(() -> Refused.notFound("agent enrollment " + id));
            h.createUpdate("delete from agent_enrollments where id = :id and account_seq = :a")
                    .bind("id", id)
                    .bind("a", p.accountSeq())
                    .execute();
            audit.record(h, p, "agentEnrollment.delete", "agentEnrollment:" + id, Map.of("name", name));
        });
    }

    /**
     * Exchanges an enrollment token for a certificate, counting failed attempts. The
     * token is marked used in the transaction that records the certificate, and at most one
     * certificate per enrollment can be recorded, so a token works exactly once, also when two
     * agents race with it; when the issuer fails, nothing is recorded and the token stays usable.
     *
     * @throws Refused UNAUTHENTICATED when the token is unknown, used or expired; instead 429 once {@code from} or the
     *         token's prefix has failed too often
     * @see #admit
     */
    public Issued enroll(String token, SocketAddress from, Issuer issuer) {
        Objects.requireNonNull(issuer, "issuer");
        try {
            return failures.lookup(token, () -> {
                try {
                    return jdbi.inTransaction(h -> exchange(h, token, issuer));
                } catch (UnableToExecuteStatementException race) {
                    // The unique enrollment_id of agent_certificates: another request used the token first.
                    throw Refused.unauthenticated("enrollment token already used (expected: a new token from "
                            + "'underpass agent-enrollment create')");
                }
            });
        } catch (Refused e) {
            throw counted(e, token, from);
        }
    }

    /**
     * Checks an enrollment before the caller does any work on its request (parsing it, verifying its
     * signature): for a token that exists, is unused and has not expired. Nothing is marked used;
     * {@link #enroll} checks again in its transaction. So an anonymous client cannot have requests
     * verified without a valid token, and the failures count.
     *
     * @throws Refused UNAUTHENTICATED when the token is unknown, used or expired; instead 429 once {@code from} or
     *         the token's prefix has failed too often
     */
    public void admit(String token, SocketAddress from) {
        try {
            failures.lookup(token, () -> jdbi.withHandle(h -> pending(h, token, clock.instant())));
        } catch (Refused e) {
            throw counted(e, token, from);
        }
    }

    /** {@code e}, or for a refused token (401) the refusal over the limits on failed attempts once they are reached. */
    private Refused counted(Refused e, String token, SocketAddress from) {
        return e.kind() != Refused.Kind.UNAUTHENTICATED ? e : failures.refused(e, from, token, "agent enrollment");
    }

    private record Pending(
            long seq, String id, long accountSeq, String account, String name, Instant expiresAt, Instant usedAt) {}

    /** The enrollment of {@code token}, usable at {@code now}. @throws Refused UNAUTHENTICATED with the reason */
    private static Pending pending(Handle h, String token, Instant now) {
        Pending e = h.createQuery(
                        "select e.seq, e.id, e.account_seq, a.name as account, e.name, e.expires_at, e.used_at "
                                + "from agent_enrollments e join accounts a on a.seq = e.account_seq where e.secret_sha256 = :h")
                .bind("h", Secrets.sha256Hex(token))
                .map((rs, ctx) -> new Pending(
                        rs.getLong("seq"),
                        rs.getString("id"),
                        rs.getLong("account_seq"),
                        rs.getString("account"),
                        rs.getString("name"),
                        Sql.instant(rs, "expires_at"),
                        Sql.instant(rs, "used_at")))
                .findOne()
                .orElse(null);
        if (e == null) {
            throw Refused.unauthenticated("enrollment token not recognised (expected: a token from "
                    + "'underpass agent-enrollment create' that was not deleted)");
        }
        if (e.usedAt() != null) {
            throw Refused.unauthenticated(
                    "enrollment token already used at " + e.usedAt() + " (expected: a new token; each works once)");
        }
        if (!e.expiresAt().isAfter(now)) {
            throw Refused.unauthenticated("enrollment token expired at " + e.expiresAt() + " (expected: a new token)");
        }
        return e;
    }

    private Issued exchange(Handle h, String token, Issuer issuer) {
        Instant now = clock.instant();
        Pending e = pending(h, token, now);
        int marked = h.createUpdate("update agent_enrollments set used_at = :t where seq = :s and used_at is null")
                .bind("t", Sql.at(now))
                .bind("s", e.seq())
                .execute();
        if (marked != 1) {
            throw Refused.unauthenticated("enrollment token already used (expected: a new token; each works once)");
        }
        String id = Secrets.id(CERTIFICATE_ID_PREFIX, 16);
        Issued issued = issuer.issue(id, e.account(), e.name());
        h.createUpdate("insert into agent_certificates (id, account_seq, name, serial, fingerprint_sha256, not_after, "
                        + "enrollment_id, created_at) values (:id, :a, :n, :serial, :f, :na, :enr, :t)")
                .bind("id", id)
                .bind("a", e.accountSeq())
                .bind("n", e.name())
                .bind("serial", issued.serial())
                .bind("f", issued.fingerprintSha256())
                .bind("na", Sql.at(issued.notAfter()))
                .bind("enr", e.id())
                .bind("t", Sql.at(now))
                .execute();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("name", e.name());
        details.put("enrollment", e.id());
        details.put("serial", issued.serial());
        details.put("fingerprint", "sha256:" + issued.fingerprintSha256());
        details.put("notAfter", issued.notAfter().toString());
        audit.record(
                h,
                e.accountSeq(),
                "enrollment " + e.id(),
                "agentCertificate.issue",
                "agentCertificate:" + id,
                AuditLog.OK,
                details);
        return issued;
    }

    /** Who presents the certificate with this SHA-256 (hex), or why it is refused: unknown, revoked or expired. */
    public CertificateCheck verifyCertificate(String fingerprintSha256) {
        Instant now = clock.instant();
        return jdbi.withHandle(h -> h.createQuery(
                        "select c.id, c.name, c.not_after, c.revoked_at, a.name as account "
                                + "from agent_certificates c join accounts a on a.seq = c.account_seq where c.fingerprint_sha256 = :f")
                .bind("f", fingerprintSha256)
                .map((rs, ctx) -> {
                    String id = rs.getString("id");
                    Instant revokedAt = Sql.instant(rs, "revoked_at");
                    Instant notAfter = Sql.instant(rs, "not_after");
                    if (revokedAt != null) {
                        return new CertificateCheck(null, "agent certificate " + id + " was revoked at " + revokedAt);
                    }
                    if (!notAfter.isAfter(now)) {
                        return new CertificateCheck(null, "agent certificate " + id + " expired at " + notAfter);
                    }
                    return new CertificateCheck(
                            new AgentTokens.Identity(rs.getString("account"), id, rs.getString("name")), null);
                })
                .findOne()
                .orElseGet(() -> new CertificateCheck(
                        null, "agent certificate sha256:" + fingerprintSha256 + " is unknown to this gateway")));
    }

    /** Which of {@code ids} (certificate ids) can no longer open a session: revoked, expired or gone. */
    public Set<String> inactive(Collection<String> ids) {
        if (ids.isEmpty()) {
            return Set.of();
        }
        Set<String> active = new HashSet<>(jdbi.withHandle(h -> h.createQuery(
                        "select id from agent_certificates where id in (<ids>) and revoked_at is null and not_after > :now")
                .bindList("ids", List.copyOf(ids))
                .bind("now", Sql.at(clock.instant()))
                .mapTo(String.class)
                .list()));
        Set<String> result = new HashSet<>(ids);
        result.removeAll(active);
        return result;
    }

    public Page<CertificateView> certificates(Principal p, Page.Request page) {
        p.require(Scope.AGENT_TOKENS_READ);
        Instant now = clock.instant();
        List<Row<CertificateView>> rows = jdbi.withHandle(h -> h.createQuery(
                        CERTIFICATES + " where account_seq = :a and seq > :after order by seq limit :n")
                .bind("a", p.accountSeq())
                .bind("after", page.after())
                .bind("n", page.limit() + 1)
                .map((rs, ctx) -> new Row<>(rs.getLong("seq"), certificate(rs, now)))
                .list());
        return Page.of(rows, page, Row::seq).map(Row::view);
    }

    /** Revokes a certificate: its live sessions end at once, and the gateway refuses it afterwards. */
    public CertificateView revokeCertificate(Principal p, String id) {
        p.require(Scope.AGENT_TOKENS_WRITE);
        Instant now = clock.instant();
        CertificateView v = jdbi.inTransaction(h -> {
            CertificateView before = requireCertificate(h, p, id, now);
            if (before.revokedAt() == null) {
                h.createUpdate("update agent_certificates set revoked_at = :t where id = :id and account_seq = :a")
                        .bind("t", Sql.at(now))
                        .bind("id", id)
                        .bind("a", p.accountSeq())
                        .execute();
                audit.record(
                        h,
                        p,
                        "agentCertificate.revoke",
                        "agentCertificate:" + id,
                        Map.of("name", before.name(), "serial", before.serial()));
            }
            return requireCertificate(h, p, id, now);
        });
        revoked.accept(id);
        return v;
    }

    private CertificateView requireCertificate(Handle h, Principal p, String id, Instant now) {
        return h.createQuery(CERTIFICATES + " where id = :id and account_seq = :a")
                .bind("id", id)
                .bind("a", p.accountSeq())
                .map((rs, ctx) -> certificate(rs, now))
                .findOne()
                .orElseThrow(() -> Refused.notFound("agent certificate " + id));
    }

    private static final String CERTIFICATES =
            "select seq, id, name, serial, fingerprint_sha256, not_after, revoked_at, "
                    + "enrollment_id, created_at from agent_certificates";

    private static CertificateView certificate(java.sql.ResultSet rs, Instant now) throws java.sql.SQLException {
        Instant notAfter = Sql.instant(rs, "not_after");
        Instant revokedAt = Sql.instant(rs, "revoked_at");
        return new CertificateView(
                rs.getString("id"),
                rs.getString("name"),
                rs.getString("serial"),
                "sha256:" + rs.getString("fingerprint_sha256"),
                notAfter,
                revokedAt,
                rs.getString("enrollment_id"),
                Sql.instant(rs, "created_at"),
                CredentialStatus.of(revokedAt, notAfter, now));
    }

    private static View enrollment(java.sql.ResultSet rs, Instant now) throws java.sql.SQLException {
        Instant expires = Sql.instant(rs, "expires_at");
        Instant used = Sql.instant(rs, "used_at");
        return new View(
                rs.getString("id"),
                rs.getString("name"),
                rs.getString("prefix"),
                expires,
                used,
                Sql.instant(rs, "created_at"),
                EnrollmentStatus.of(used, expires, now));
    }

    private record Row<T>(long seq, T view) {}
}
