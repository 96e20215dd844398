package dev.underpass.controlplane.audit;

import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Reading the audit log: an account's records, filtered and paged, and the check of its chain.
 * A principal reads its own account's chain; only the operator account may name another.
 */
public final class AuditEvents {
    /** How many records a verification reads at a time. */
    static final int VERIFY_BATCH = 1000;

    /**
     * Which records a list shows: from {@code since} (inclusive) to {@code until} (exclusive),
     * {@code action} exact or a prefix ending in {@code *} ({@code endpoint.*}), {@code target} exact.
     */
    public record Filter(Instant since, Instant until, String action, String target) {
        public static final Filter ALL = new Filter(null, null, null, null);

        /** A filter from query parameters; {@code since} and {@code until} are ISO-8601 instants. */
        public static Filter parse(String since, String until, String action, String target) {
            List<String> errors = new ArrayList<>();
            Instant s = instant(errors, "since", since);
            Instant u = instant(errors, "until", until);
            if (action != null && (action.isEmpty() || action.length() > 64)) {
                errors.add("action: '" + action
                        + "' (expected: an action such as service.create, or a prefix such as endpoint.*)");
            }
            if (target != null && (target.isEmpty() || target.length() > 300)) {
                errors.add("target: '" + target + "' (expected: type:id, such as service:acme/web)");
            }
            if (!errors.isEmpty()) {
                throw Refused.invalid(errors);
            }
            return new Filter(s, u, action, target);
        }

        private static Instant instant(List<String> errors, String field, String text) {
            if (text == null) {
                return null;
            }
            try {
                return Instant.parse(text);
            } catch (java.time.format.DateTimeParseException e) {
                errors.add(field + ": '" + text + "' (expected: an ISO-8601 instant such as 2026-01-31T12:00:00Z)");
                return null;
            }
        }
    }

    private final Jdbi jdbi;

    AuditEvents(Jdbi jdbi) {
        this.jdbi = jdbi;
    }

    public Page<AuditRecord> list(Principal p, String account, Filter f, Page.Request page) {
        p.require(Scope.AUDIT_READ);
        Filter filter = f == null ? Filter.ALL : f;
        if (filter.since() != null && filter.until() != null && !filter.until().isAfter(filter.since())) {
            throw Refused.invalid(
                    List.of("until: " + filter.until() + " (expected: after since, " + filter.since() + ")"));
        }
        StringBuilder sql = new StringBuilder(SELECT + " where e.account_seq = :a and e.seq > :after");
        if (filter.since() != null) {
            sql.append(" and e.at >= :since");
        }
        if (filter.until() != null) {
            sql.append(" and e.at < :until");
        }
        String action = filter.action();
        if (action != null && action.endsWith("*")) {
            sql.append(" and e.action like :action");
            action = action.substring(0, action.length() - 1).replace("%", "").replace("_", "\\_") + "%";
        } else if (action != null) {
            sql.append(" and e.action = :action");
        }
        if (filter.target() != null) {
            sql.append(" and e.target = :target");
        }
        sql.append(" order by e.seq limit :n");
        String like = action;
        return jdbi.withHandle(h -> {
            long seq = accountSeq(h, p, account);
            List<AuditRecord> rows = h.createQuery(sql.toString())
                    .bind("a", seq)
                    .bind("after", page.after())
                    .bind("since", at(filter.since()))
                    .bind("until", at(filter.until()))
                    .bind("action", like)
                    .bind("target", filter.target())
                    .bind("n", page.limit() + 1)
                    .map((rs, ctx) -> record(rs))
                    .list();
            return Page.of(rows, page, AuditRecord::seq);
        });
    }

    /** Checks the chain of the caller's account, or for the operator of {@code account}, here on the server. */
    public AuditChain.Verification verify(Principal p, String account) {
        p.require(Scope.AUDIT_READ);
        long seq = jdbi.withHandle(h -> accountSeq(h, p, account));
        return verify(seq, null);
    }

    /** Checks every account's chain, straight from the store (the operator's command; no principal). */
    public List<AuditChain.Verification> verifyAll() {
        return verifyAll(Map.of());
    }

    /**
     * As {@link #verifyAll()}, each chain also required to pass through the head {@code expected}
     * gives for its account (heads the gateway logged earlier and an external log kept).
     *
     * @throws IllegalArgumentException when {@code expected} names an account that does not exist
     */
    public List<AuditChain.Verification> verifyAll(Map<String, AuditChain.Head> expected) {
        Map<String, Long> accounts = new LinkedHashMap<>();
        jdbi.useHandle(h -> h.createQuery("select name, seq from accounts order by seq")
                .map((rs, ctx) -> Map.entry(rs.getString(1), rs.getLong(2)))
                .forEach(e -> accounts.put(e.getKey(), e.getValue())));
        for (String name : expected.keySet()) {
            if (!accounts.containsKey(name)) {
                throw new IllegalArgumentException(
                        "expected head of account '" + name + "': no such account in the store " + "(expected one of: "
                                + String.join(", ", accounts.keySet()) + ")");
            }
        }
        List<AuditChain.Verification> result = new ArrayList<>();
        accounts.forEach((name, seq) -> result.add(verify(seq, expected.get(name))));
        return result;
    }

    /**
     * The head of every account's chain, by account name, as the head rows have it: what the
     * gateway logs so that a rewrite by someone with database access can be detected.
     */
    public Map<String, AuditChain.Head> heads() {
        Map<String, AuditChain.Head> heads = new LinkedHashMap<>();
        jdbi.useHandle(h -> h.createQuery("select a.name, h.seq, h.hash from audit_heads h join accounts a "
                        + "on a.seq = h.account_seq order by a.seq")
                .map((rs, ctx) -> Map.entry(rs.getString(1), new AuditChain.Head(rs.getLong(2), rs.getString(3))))
                .forEach(e -> heads.put(e.getKey(), e.getValue())));
        return heads;
    }

    /**
     * Reads the head row first, then the records up to it page by page, so that records appended
     * meanwhile are not mistaken for a chain running past its head; then looks for records above
     * the head row as it is then, which no append wrote.
     */
    private AuditChain.Verification verify(long accountSeq, AuditChain.Head also) {
        record Known(String account, AuditChain.Head head) {}
        Known known = jdbi.withHandle(h -> h.createQuery("select a.name, h.seq, h.hash from accounts a "
                        + "left join audit_heads h on h.account_seq = a.seq where a.seq = :a")
                .bind("a", accountSeq)
                .map((rs, ctx) -> new Known(
                        rs.getString(1),
                        rs.getString(3) == null
                                ? new AuditChain.Head(0, AuditChain.GENESIS)
                                : new AuditChain.Head(rs.getLong(2), rs.getString(3))))
                .one());
        AuditChain.Verifier v = new AuditChain.Verifier(known.account()).expect(known.head());
        if (also != null) {
            v.expect(also);
        }
        long after = 0;
        while (true) {
            long from = after;
            List<AuditRecord> page =
                    jdbi.withHandle(h -> h.createQuery(SELECT + " where e.account_seq = :a and e.seq > :after "
                                    + "and e.seq <= :head order by e.seq limit :n")
                            .bind("a", accountSeq)
                            .bind("after", from)
                            .bind("head", known.head().seq())
                            .bind("n", VERIFY_BATCH)
                            .map((rs, ctx) -> record(rs))
                            .list());
            page.forEach(v::add);
            if (page.size() < VERIFY_BATCH) {
                break;
            }
            after = page.getLast().seq();
        }
        // Records above the head are listed by the API but were not read above. One statement reads the head row
        // and the records together, so a record appended meanwhile (with its head) is never taken for one.
        long[] past = jdbi.withHandle(h -> h.createQuery("select coalesce(max(hd.seq), 0), count(e.seq), min(e.seq) "
                        + "from audit_events e left join audit_heads hd on hd.account_seq = e.account_seq "
                        + "where e.account_seq = :a and e.seq > coalesce(hd.seq, 0)")
                .bind("a", accountSeq)
                .map((rs, ctx) -> new long[] {rs.getLong(1), rs.getLong(2), rs.getLong(3)})
                .one());
        v.pastHead(past[0], past[2], past[1]);
        return v.result();
    }

    private static long accountSeq(Handle h, Principal p, String account) {
        if (account == null || account.equals(p.account())) {
            return p.accountSeq();
        }
        if (!p.operator()) {
            throw Refused.forbidden("account: '" + account + "' (expected: your own account " + p.account()
                    + "; only the operator account may read another account's audit events)");
        }
        return h.createQuery("select seq from accounts where name = :n")
                .bind("n", account)
                .mapTo(Long.class)
                .findOne()
                .orElseThrow(() -> new Refused(Refused.Kind.NOT_FOUND, "account '" + account + "' does not exist"));
    }

    private static final String SELECT = "select a.name as account, e.seq, e.id, e.at, e.actor, e.action, e.target, "
            + "e.outcome, e.details, e.prev_hash, e.hash from audit_events e join accounts a on a.seq = e.account_seq";

    private static AuditRecord record(ResultSet rs) throws SQLException {
        return new AuditRecord(
                rs.getString("account"),
                rs.getLong("seq"),
                rs.getString("id"),
                rs.getObject("at", OffsetDateTime.class).toInstant(),
                rs.getString("actor"),
                rs.getString("action"),
                rs.getString("target"),
                rs.getString("outcome"),
                rs.getString("details"),
                rs.getString("prev_hash"),
                rs.getString("hash"));
    }

    private static OffsetDateTime at(Instant i) {
        return i == null ? null : i.atOffset(ZoneOffset.UTC);
    }
}
