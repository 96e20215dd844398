package dev.underpass.controlplane.audit;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Secrets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.PreparedBatch;

/**
 * The audit log: appends records to the hash chain of each account they concern, inside the
 * transaction of the change they record, so that a change and its record commit or roll back
 * together. The store offers no path that updates or deletes a record.
 *
 * <p>Appends to one account's chain are serialized by locking the account's head row
 * ({@code audit_heads}, {@code select ... for update}); an append that concerns several accounts
 * locks their heads in order of account seq, so that two appends never wait on each other in a
 * cycle. See docs/adr/0014-audit-log.md.
 */
public final class AuditLog {
    /** The actor of changes the system makes by itself (request expiry, listeners up or closed). */
    public static final String SYSTEM = "system";

    public static final String OK = "ok";
    /** Longest outcome, target and actor kept (the columns' sizes): cut there, so that a long text cannot fail its record. */
    static final int MAX_OUTCOME = 1000;

    static final int MAX_TARGET = 300;
    static final int MAX_ACTOR = 200;
    /** Longest details JSON kept. */
    static final int MAX_DETAILS = 4000;
    /** A whole API key, agent token or enrollment token; a shown prefix (12 characters) is fine. */
    private static final Pattern SECRET = Pattern.compile("(up[ake]_)[A-Za-z0-9_-]{20,}");

    private static final ObjectMapper CANONICAL = JsonMapper.builder()
            .addModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .build();

    /**
     * One event to append to the chain of account {@code home} and, when {@code other} is not
     * null and not {@code home}, to the chain of {@code other} too (an event between a consumer
     * and a provider). The other account's copy names the actor as {@code otherActor} and
     * carries {@code otherDetails}: user names and key ids stay inside their own tenant.
     * Details are JSON text.
     */
    public record Entry(
            long home,
            Long other,
            Instant at,
            String actor,
            String otherActor,
            String action,
            String target,
            String outcome,
            String details,
            String otherDetails) {
        public Entry {
            Objects.requireNonNull(at, "at");
            actor = cut(Objects.requireNonNull(actor, "actor"), MAX_ACTOR);
            otherActor = otherActor == null ? null : cut(otherActor, MAX_ACTOR);
            Objects.requireNonNull(action, "action");
            target = cut(Objects.requireNonNull(target, "target"), MAX_TARGET);
            outcome = cut(Objects.requireNonNull(outcome, "outcome"), MAX_OUTCOME);
            Objects.requireNonNull(details, "details");
            if (other != null && other == home) {
                other = null;
            }
            if (other != null) {
                Objects.requireNonNull(otherActor, "otherActor");
                Objects.requireNonNull(otherDetails, "otherDetails");
            }
        }

        /** An event of one account only. */
        public static Entry of(
                long account, Instant at, String actor, String action, String target, String outcome, String details) {
            return new Entry(account, null, at, actor, null, action, target, outcome, details, null);
        }

        List<Long> accounts() {
            return other == null ? List.of(home) : List.of(home, other);
        }
    }

    private final Jdbi jdbi;
    private final Clock clock;
    /**
     * The seqs of accounts by name, as the connection writer looks them up: accounts are never
     * renamed nor deleted, and it only names committed ones. (Names are not cached by seq: an
     * account created in a transaction that rolls back must not leave its name behind.)
     */
    private final Map<String, Long> seqs = new ConcurrentHashMap<>();

    private final AuditEvents events;

    public AuditLog(Jdbi jdbi, Clock clock) {
        this.jdbi = Objects.requireNonNull(jdbi, "jdbi");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.events = new AuditEvents(jdbi);
    }

    /** Reading and checking the chains. */
    public AuditEvents events() {
        return events;
    }

    /** Appends a control-plane change to the chain of accountSeq, inside the caller's transaction. */
    public void record(
            Handle h,
            long accountSeq,
            String actor,
            String action,
            String target,
            String outcome,
            Map<String, ?> details) {
        append(h, List.of(Entry.of(accountSeq, clock.instant(), actor, action, target, outcome, json(details))));
    }

    /** Same, for a change made by principal p in its own account, outcome "ok". */
    public void record(Handle h, Principal p, String action, String target, Map<String, ?> details) {
        record(h, p.accountSeq(), p.actor(), action, target, OK, details);
    }

    /**
     * Appends a change made in {@code accountSeq} that concerns {@code otherAccountSeq} too (a
     * consumer and a provider, the operator and a new account) to both chains, inside the caller's
     * transaction; one record when they are the same account. The other account's copy names the
     * actor only by its account (or {@link #SYSTEM}).
     */
    public void record(
            Handle h,
            long accountSeq,
            long otherAccountSeq,
            String actor,
            String action,
            String target,
            String outcome,
            Map<String, ?> details) {
        String otherActor = SYSTEM.equals(actor) ? SYSTEM : "account " + name(h, accountSeq);
        String json = json(details);
        append(
                h,
                List.of(new Entry(
                        accountSeq,
                        otherAccountSeq,
                        clock.instant(),
                        actor,
                        otherActor,
                        action,
                        target,
                        outcome,
                        json,
                        json)));
    }

    /** Appends {@code entries} in the caller's transaction, in their order, each to each of its accounts' chains. */
    public void append(Handle h, List<Entry> entries) {
        if (entries.isEmpty()) {
            return;
        }
        TreeSet<Long> accounts = new TreeSet<>();
        for (Entry e : entries) {
            refuseSecrets(e);
            accounts.addAll(e.accounts());
        }
        Map<Long, AuditChain.Head> heads = new HashMap<>();
        Map<Long, String> names = new HashMap<>();
        for (long a : accounts) { // in order of seq: see the class comment
            heads.put(a, lockHead(h, a));
            names.put(a, name(h, a));
        }
        PreparedBatch batch =
                h.prepareBatch("insert into audit_events (account_seq, seq, id, at, actor, action, target, "
                        + "outcome, details, prev_hash, hash) values (:a, :seq, :id, :at, :actor, :action, :target, :outcome, "
                        + ":details, :prev, :hash)");
        for (Entry e : entries) {
            String id = Secrets.id("aud-", 20);
            Instant at = AuditChain.truncate(e.at());
            for (long a : e.accounts()) {
                boolean home = a == e.home();
                String actor = home ? e.actor() : e.otherActor();
                String details = home ? e.details() : e.otherDetails();
                AuditChain.Head head = heads.get(a);
                long seq = head.seq() + 1;
                String hash = AuditChain.hash(
                        names.get(a), seq, id, at, actor, e.action(), e.target(), e.outcome(), details, head.hash());
                batch.bind("a", a)
                        .bind("seq", seq)
                        .bind("id", id)
                        .bind("at", at.atOffset(ZoneOffset.UTC))
                        .bind("actor", actor)
                        .bind("action", e.action())
                        .bind("target", e.target())
                        .bind("outcome", e.outcome())
                        .bind("details", details)
                        .bind("prev", head.hash())
                        .bind("hash", hash)
                        .add();
                heads.put(a, new AuditChain.Head(seq, hash));
            }
        }
        batch.execute();
        for (Map.Entry<Long, AuditChain.Head> e : heads.entrySet()) {
            h.createUpdate("update audit_heads set seq = :seq, hash = :hash where account_seq = :a")
                    .bind("seq", e.getValue().seq())
                    .bind("hash", e.getValue().hash())
                    .bind("a", e.getKey())
                    .execute();
        }
    }

    /** Appends {@code entries} in a transaction of their own (the connection writer's batches). */
    public void append(List<Entry> entries) {
        jdbi.useTransaction(h -> append(h, entries));
    }

    /**
     * An event between accounts named by name, as the gateway knows them: a consumer connection
     * ({@code home} the consumer, {@code other} the provider or null). See {@link Entry}.
     */
    public record Named(
            String home,
            String other,
            Instant at,
            String actor,
            String otherActor,
            String action,
            String target,
            String outcome,
            Map<String, ?> details,
            Map<String, ?> otherDetails) {}

    /**
     * Appends {@code events} in one transaction of their own (the gateway's connection writer);
     * an event naming an account that does not exist is left out and counted in the result.
     *
     * <p>Their text comes partly from outside (a destination a consumer typed, a reason an agent
     * sent), so it is made fit rather than refused: control characters removed, anything shaped
     * like a key or token masked, details shortened to fit. One odd connection must not fail the
     * records of others written with it.
     */
    public int appendNamed(List<Named> events) {
        return jdbi.inTransaction(h -> {
            List<Entry> entries = new ArrayList<>(events.size());
            int unknown = 0;
            for (Named n : events) {
                Long home = seqOf(h, n.home());
                Long other = n.other() == null ? null : seqOf(h, n.other());
                if (home == null) {
                    unknown++;
                    continue;
                }
                entries.add(new Entry(
                        home,
                        other,
                        n.at(),
                        outside(n.actor()),
                        n.otherActor() == null ? null : outside(n.otherActor()),
                        n.action(),
                        outside(n.target()),
                        outside(n.outcome()),
                        fittedJson(n.details()),
                        other == null ? null : fittedJson(n.otherDetails())));
            }
            append(h, entries);
            return unknown;
        });
    }

    /** The seq of account {@code name}, or null when there is none. */
    private Long seqOf(Handle h, String name) {
        Long seq = seqs.get(name);
        if (seq == null) {
            seq = h.createQuery("select seq from accounts where name = :n")
                    .bind("n", name)
                    .mapTo(Long.class)
                    .findOne()
                    .orElse(null);
            if (seq != null) {
                seqs.put(name, seq);
            }
        }
        return seq;
    }

    /** Locks and reads the head of an account's chain; creates it for an account that has none yet. */
    private static AuditChain.Head lockHead(Handle h, long account) {
        var head = h.createQuery("select seq, hash from audit_heads where account_seq = :a for update")
                .bind("a", account)
                .map((rs, ctx) -> new AuditChain.Head(rs.getLong(1), rs.getString(2)))
                .findOne();
        if (head.isPresent()) {
            return head.get();
        }
        // Only for an account created in this very transaction (V3 gave every older account a head), which no
        // other transaction can see yet: nobody else can insert the same head meanwhile.
        h.createUpdate("insert into audit_heads (account_seq, seq, hash) values (:a, 0, :g)")
                .bind("a", account)
                .bind("g", AuditChain.GENESIS)
                .execute();
        return new AuditChain.Head(0, AuditChain.GENESIS);
    }

    private static String name(Handle h, long account) {
        return h.createQuery("select name from accounts where seq = :a")
                .bind("a", account)
                .mapTo(String.class)
                .one();
    }

    /** {@code details} as canonical JSON: keys sorted, no whitespace, at most {@link #MAX_DETAILS} characters. */
    public static String json(Map<String, ?> details) {
        return json(details, MAX_DETAILS);
    }

    private static String json(Map<String, ?> details, int max) {
        try {
            String text = CANONICAL.writeValueAsString(details == null ? Map.of() : details);
            if (text.length() > max) {
                throw new IllegalArgumentException(
                        "audit details: " + text.length() + " characters (expected: at most " + MAX_DETAILS + ")");
            }
            return text;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("audit details cannot be written as JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * {@code details} as {@link #json}, each text value made fit as {@link #outside}, and values
     * shortened until the whole fits in {@link #MAX_DETAILS} characters (a connection record).
     */
    static String fittedJson(Map<String, ?> details) {
        Map<String, Object> clean = new java.util.LinkedHashMap<>();
        if (details != null) {
            details.forEach((k, v) -> clean.put(k, v instanceof String s ? outside(s) : v));
        }
        for (int max = MAX_DETAILS; ; max /= 4) {
            Map<String, Object> cut = new java.util.LinkedHashMap<>();
            int limit = max;
            clean.forEach((k, v) -> cut.put(k, v instanceof String s ? cut(s, Math.max(limit, 16)) : v));
            String text = maskSecrets(json(cut, Integer.MAX_VALUE));
            if (text.length() <= MAX_DETAILS) {
                return text;
            }
            if (max < 16) { // only many keys or non-text values could be this long: none of the writer's
                return json(Map.of("truncated", true));
            }
        }
    }

    /**
     * Text from outside made fit for a record: without control or format characters (PostgreSQL
     * refuses NUL), with key- and token-shaped text masked ({@code upa_****}).
     */
    static String outside(String s) {
        return maskSecrets(printable(s));
    }

    private static String maskSecrets(String s) {
        return SECRET.matcher(s).find() ? SECRET.matcher(s).replaceAll(m -> m.group(1) + "****") : s;
    }

    /**
     * {@code s} without control characters (NUL, newlines, escapes), format characters (bidi
     * overrides) and lone surrogates: what a record keeps of text it did not write itself.
     */
    public static String printable(String s) {
        if (s == null) {
            return null;
        }
        int n = s.length();
        int i = 0;
        while (i < n && keep(s, i)) {
            i++;
        }
        if (i == n) {
            return s;
        }
        StringBuilder b = new StringBuilder(n).append(s, 0, i);
        for (; i < n; i++) {
            if (keep(s, i)) {
                b.append(s.charAt(i));
            }
        }
        return b.toString();
    }

    private static boolean keep(String s, int i) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c)) {
            return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
        }
        if (Character.isLowSurrogate(c)) {
            return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
        }
        return !Character.isISOControl(c) && Character.getType(c) != Character.FORMAT;
    }

    /** A last guard: a record that holds a whole key or token is a bug, and must not be written. */
    private static void refuseSecrets(Entry e) {
        for (String v :
                new String[] {e.actor(), e.otherActor(), e.target(), e.outcome(), e.details(), e.otherDetails()}) {
            if (v != null && SECRET.matcher(v).find()) {
                throw new IllegalStateException("audit record " + e.action() + " on " + e.target()
                        + " would hold a secret (a whole key or token); refused");
            }
        }
    }

    /** {@code s} cut to at most {@code max} characters, ending in "…" when cut, never inside a surrogate pair. */
    public static String cut(String s, int max) {
        if (s.length() <= max) {
            return s;
        }
        int end = max - 1;
        if (Character.isHighSurrogate(s.charAt(end - 1))) {
            end--;
        }
        return s.substring(0, end) + "…";
    }
}
