package dev.underpass.controlplane.credential;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Agent identities: trust bindings that let an agent authenticate with a JWT from its
 * environment (a Kubernetes service-account token, a CI job token) instead of a stored agent
 * token, as AWS's AssumeRoleWithWebIdentity does. An account admin binds an issuer the operator
 * trusts, a subject (exact, or a prefix ending in {@code :*} or {@code /*}) and optional extra
 * claims to the account; the agent names the binding ({@code underpass-identity: wid-...}) and
 * presents the JWT. The gateway checks the JWT against the binding ({@link #binding}); nothing secret is
 * stored here.
 *
 * <p>Only issuers the operator lists ({@code oidcIssuers}) can be bound, so a tenant can never
 * make the gateway fetch a URL of its choosing.
 */
public final class AgentIdentities {
    /** Prefix of identity ids; the agent sends the id, so it is also what failed attempts are counted by. */
    public static final String ID_PREFIX = "wid-";

    public static final int ID_HEX_CHARS = 16;
    static final Pattern ID = Pattern.compile(ID_PREFIX + "[0-9a-f]{" + ID_HEX_CHARS + "}");
    static final int MAX_SUBJECT = 512;
    /** What the character before a prefix subject's {@code *} must be: a boundary between parts of the sub. */
    static final String PREFIX_DELIMITERS = ":/";

    static final int MAX_CLAIMS = 8;
    static final int MAX_CLAIM_NAME = 64;
    static final int MAX_CLAIM_VALUE = 200;
    /** Claims the gateway checks itself, which a binding cannot set. */
    static final Set<String> RESERVED_CLAIMS = Set.of("iss", "sub", "aud", "exp", "nbf", "iat", "jti");

    private static final ObjectMapper JSON = new ObjectMapper();

    public record View(
            String id,
            String name,
            String issuer,
            String subject,
            Map<String, String> claims,
            Instant createdAt,
            Instant lastUsedAt) {}

    public record CreateRequest(String name, String issuer, String subject, Map<String, String> claims) {}

    /**
     * What the gateway checks a JWT against: the account it acts for, the issuer, the subject
     * ({@code *} at the end: a prefix) and extra claims that must equal these strings.
     */
    public record Binding(
            String account, String id, String name, String issuer, String subject, Map<String, String> claims) {
        /** Whether {@code sub} is this binding's subject, or starts with its prefix. */
        public boolean subjectMatches(String sub) {
            if (sub == null) {
                return false;
            }
            return subject.endsWith("*")
                    ? sub.startsWith(subject.substring(0, subject.length() - 1))
                    : subject.equals(sub);
        }
    }

    private final Jdbi jdbi;
    private final Clock clock;
    private final Consumer<String> deleted;
    private final AuditLog audit;
    /** The issuers the operator trusts (the gateway's {@code oidcIssuers}); bindings may name only these. */
    private final Set<String> trustedIssuers;

    public AgentIdentities(
            Jdbi jdbi, Clock clock, Consumer<String> deleted, AuditLog audit, Collection<String> trustedIssuers) {
        this.jdbi = jdbi;
        this.audit = audit;
        this.clock = clock;
        this.deleted = deleted;
        this.trustedIssuers = Set.copyOf(trustedIssuers);
    }

    public Set<String> trustedIssuers() {
        return trustedIssuers;
    }

    /** Whether {@code id} has the shape of an identity id (anything else is refused without a lookup). */
    public static boolean wellFormedId(String id) {
        return id != null && ID.matcher(id).matches();
    }

    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.AGENT_IDENTITIES_READ);
        List<Row> rows = jdbi.withHandle(
                h -> h.createQuery(SELECT + " where i.account_seq = :a and i.seq > :after " + "order by i.seq limit :n")
                        .bind("a", p.accountSeq())
                        .bind("after", page.after())
                        .bind("n", page.limit() + 1)
                        .map((rs, ctx) -> row(rs))
                        .list());
        return Page.of(rows, page, Row::seq).map(r -> r.view());
    }

    public View create(Principal p, CreateRequest request) {
        p.require(Scope.AGENT_IDENTITIES_WRITE);
        List<String> errors = new ArrayList<>();
        Names.check(errors, "name", request == null ? null : request.name());
        Map<String, String> claims = request == null || request.claims() == null ? Map.of() : request.claims();
        if (request != null) {
            checkIssuer(errors, request.issuer());
            checkSubject(errors, request.subject());
            checkClaims(errors, claims);
        }
        Names.reject(errors);
        Instant now = clock.instant();
        String id = Secrets.id(ID_PREFIX, ID_HEX_CHARS);
        Map<String, String> sorted = new TreeMap<>(claims);
        View v = new View(id, request.name(), request.issuer(), request.subject(), sorted, now, null);
        jdbi.useTransaction(h -> {
            h.createUpdate("insert into agent_identities (id, account_seq, name, issuer, subject, claims, created_at, "
                            + "created_by) values (:id, :a, :n, :i, :s, :c, :t, :by)")
                    .bind("id", id)
                    .bind("a", p.accountSeq())
                    .bind("n", request.name())
                    .bind("i", request.issuer())
                    .bind("s", request.subject())
                    .bind("c", write(sorted))
                    .bind("t", Sql.at(now))
                    .bind("by", p.actor())
                    .execute();
            audit.record(h, p, "agentIdentity.create", "agentIdentity:" + id, details(v));
        });
        return v;
    }

    /** Deletes a binding: its live agent sessions end at once, and new ones are refused. */
    public View delete(Principal p, String id) {
        p.require(Scope.AGENT_IDENTITIES_WRITE);
        View v = jdbi.inTransaction(h -> {
            Row row = require(h, p, id);
            h.createUpdate("delete from agent_identities where seq = :s")
                    .bind("s", row.seq())
                    .execute();
            audit.record(h, p, "agentIdentity.delete", "agentIdentity:" + id, details(row.view()));
            return row.view();
        });
        deleted.accept(id);
        return v;
    }

    /**
     * The binding {@code id} names, for the gateway's check of a presented JWT; empty when there
     * is none. Not scoped to a principal: the agent names the binding, and its JWT must match it.
     */
    public Optional<Binding> binding(String id) {
        if (!wellFormedId(id)) {
            return Optional.empty();
        }
        return jdbi.withHandle(h -> h.createQuery(SELECT + " where i.id = :id")
                .bind("id", id)
                .map((rs, ctx) -> {
                    View v = row(rs).view();
                    return new Binding(rs.getString("account"), v.id(), v.name(), v.issuer(), v.subject(), v.claims());
                })
                .findOne());
    }

    /** Records that {@code id} opened a session (at most once per {@link Credentials#LAST_USED_RESOLUTION}). */
    public void used(String id) {
        Instant now = clock.instant();
        jdbi.useHandle(h -> h.createUpdate("update agent_identities set last_used_at = :t where id = :id "
                        + "and (last_used_at is null or last_used_at < :before)")
                .bind("t", Sql.at(now))
                .bind("id", id)
                .bind("before", Sql.at(now.minus(Credentials.LAST_USED_RESOLUTION)))
                .execute());
    }

    /** Which of {@code ids} no longer exist (deleted), so that their live sessions end. */
    public Set<String> inactive(Collection<String> ids) {
        if (ids.isEmpty()) {
            return Set.of();
        }
        Set<String> present =
                new HashSet<>(jdbi.withHandle(h -> h.createQuery("select id from agent_identities where id in (<ids>)")
                        .bindList("ids", List.copyOf(ids))
                        .mapTo(String.class)
                        .list()));
        Set<String> result = new HashSet<>(ids);
        result.removeAll(present);
        return result;
    }

    private void checkIssuer(List<String> errors, String issuer) {
        Set<String> trusted = trustedIssuers;
        if (trusted.isEmpty()) {
            errors.add("issuer: " + (issuer == null ? "missing" : "'" + issuer + "'")
                    + " (expected: an issuer the operator "
                    + "trusts; this gateway trusts none: the operator lists them in oidcIssuers of its configuration)");
        } else if (issuer == null || !trusted.contains(issuer)) {
            errors.add("issuer: " + (issuer == null ? "missing" : "'" + issuer + "'")
                    + " (expected: one of the issuers " + "this gateway trusts: "
                    + String.join(", ", trusted.stream().sorted().toList()) + ")");
        }
    }

    private static void checkSubject(List<String> errors, String subject) {
        String expected = " (expected: the JWT's exact sub, or a prefix ending in ':*' or '/*' such as "
                + "system:serviceaccount:ci:*; "
                + "at most " + MAX_SUBJECT + " characters)";
        if (subject == null || subject.isBlank()) {
            errors.add("subject: " + (subject == null ? "missing" : "empty") + expected);
        } else if (subject.length() > MAX_SUBJECT || Names.hasControlCharacters(subject)) {
            errors.add("subject: " + subject.length() + " characters or control characters" + expected);
        } else if (subject.equals("*")) {
            errors.add("subject: '*' (expected: not every subject of the issuer: a prefix before the '*', such as "
                    + "system:serviceaccount:ci:*, or the exact sub)");
        } else if (subject.indexOf('*') >= 0 && subject.indexOf('*') != subject.length() - 1) {
            errors.add("subject: '" + subject + "'" + expected);
        } else if (subject.endsWith("*") && PREFIX_DELIMITERS.indexOf(subject.charAt(subject.length() - 2)) < 0) {
            // repo:acme* would also match repo:acme-evil/x, a subject anyone may get from a shared issuer.
            errors.add(
                    "subject: '" + subject + "' (expected: a prefix that ends at a delimiter, ':' or '/' right before "
                            + "the '*', such as repo:acme/app:* or system:serviceaccount:ci:*, so that it cannot also match "
                            + "subjects that merely start alike; or the exact sub)");
        }
    }

    private static void checkClaims(List<String> errors, Map<String, String> claims) {
        if (claims.size() > MAX_CLAIMS) {
            errors.add("claims: " + claims.size() + " entries (expected: at most " + MAX_CLAIMS + ")");
            return;
        }
        for (Map.Entry<String, String> e : claims.entrySet()) {
            String name = e.getKey();
            if (name == null || name.isBlank() || name.length() > MAX_CLAIM_NAME || Names.hasControlCharacters(name)) {
                errors.add("claims: a claim name of " + (name == null ? 0 : name.length()) + " characters (expected: 1-"
                        + MAX_CLAIM_NAME + " printable characters)");
            } else if (RESERVED_CLAIMS.contains(name)) {
                errors.add("claims." + name + ": reserved (expected: not one of "
                        + RESERVED_CLAIMS.stream().sorted().toList()
                        + ", which the gateway checks itself; use issuer and subject)");
            } else if (e.getValue() == null
                    || e.getValue().isEmpty()
                    || e.getValue().length() > MAX_CLAIM_VALUE
                    || Names.hasControlCharacters(e.getValue())) {
                errors.add("claims." + name + ": "
                        + (e.getValue() == null ? "missing" : e.getValue().length() + " characters")
                        + " (expected: a string of 1-" + MAX_CLAIM_VALUE
                        + " printable characters the claim must equal)");
            }
        }
    }

    private static Map<String, Object> details(View v) {
        Map<String, Object> d = new java.util.LinkedHashMap<>();
        d.put("name", v.name());
        d.put("issuer", v.issuer());
        d.put("subject", v.subject());
        d.put("claims", v.claims());
        return d;
    }

    private Row require(Handle h, Principal p, String id) {
        return h.createQuery(SELECT + " where i.id = :id and i.account_seq = :a")
                .bind("id", id)
                .bind("a", p.accountSeq())
                .map((rs, ctx) -> row(rs))
                .findOne()
                .orElseThrow(() -> Refused.notFound("agent identity " + id));
    }

    private static final String SELECT = "select i.seq, i.id, i.name, i.issuer, i.subject, i.claims, i.created_at, "
            + "i.last_used_at, a.name as account from agent_identities i join accounts a on a.seq = i.account_seq";

    private static Row row(java.sql.ResultSet rs) throws java.sql.SQLException {
        return new Row(
                rs.getLong("seq"),
                new View(
                        rs.getString("id"),
                        rs.getString("name"),
                        rs.getString("issuer"),
                        rs.getString("subject"),
                        read(rs.getString("claims")),
                        Sql.instant(rs, "created_at"),
                        Sql.instant(rs, "last_used_at")));
    }

    private static String write(Map<String, String> claims) {
        try {
            return JSON.writeValueAsString(claims);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("claims of strings always serialise", e);
        }
    }

    private static Map<String, String> read(String json) {
        try {
            return new TreeMap<>(JSON.readValue(json, new TypeReference<Map<String, String>>() {}));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("agent_identities.claims: not a JSON object of strings", e);
        }
    }

    private record Row(long seq, View view) {}
}
