package dev.underpass.controlplane.audit;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * The hash chain of one account's audit records: how a record's hash is computed from its fields
 * and the previous hash, and how a chain is checked. The encoding is specified in
 * docs/adr/0014-audit-log.md so that a third party can verify a chain without this code:
 *
 * <pre>
 * hash = hex(SHA-256(
 *     "underpass-audit-v1\n"
 *     + field(account) + field(seq) + field(id) + field(at) + field(actor) + field(action)
 *     + field(target) + field(outcome) + field(details) + field(prevHash)))
 * field(v) = decimal length of UTF-8(v) in bytes + ":" + UTF-8(v) + "\n"
 * </pre>
 *
 * with {@code seq} in decimal, {@code at} as {@code yyyy-MM-ddTHH:mm:ss.SSSZ} in UTC, and the
 * first record's {@code prevHash} {@link #GENESIS}. The length prefix makes the encoding
 * unambiguous whatever characters a field holds.
 */
public final class AuditChain {
    /** The previous hash of an account's first record: 64 zeros. */
    public static final String GENESIS = "0".repeat(64);

    static final String VERSION = "underpass-audit-v1";
    private static final DateTimeFormatter AT =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    /**
     * The outcome of checking one account's chain: how many records it has, its last record, and
     * the first bad seq with what is wrong with it ({@code firstBadSeq} and {@code problem} null when valid).
     */
    public record Verification(
            String account, long records, Head head, boolean valid, Long firstBadSeq, String problem) {}

    /** The last record of a chain: what an external log keeps to detect a rewrite. */
    public record Head(long seq, String hash) {}

    private AuditChain() {}

    /** Times are hashed (and stored) to the millisecond, which both stores keep exactly. */
    public static Instant truncate(Instant at) {
        return at.truncatedTo(ChronoUnit.MILLIS);
    }

    /** {@code at} as it is hashed. */
    public static String formatAt(Instant at) {
        return AT.format(at);
    }

    /** The hash of a record with these fields. */
    public static String hash(
            String account,
            long seq,
            String id,
            Instant at,
            String actor,
            String action,
            String target,
            String outcome,
            String details,
            String prevHash) {
        StringBuilder b = new StringBuilder(256).append(VERSION).append('\n');
        for (String v : new String[] {
            account, Long.toString(seq), id, formatAt(at), actor, action, target, outcome, details, prevHash
        }) {
            String value = Objects.requireNonNull(v, "audit field");
            b.append(value.getBytes(StandardCharsets.UTF_8).length)
                    .append(':')
                    .append(value)
                    .append('\n');
        }
        return sha256Hex(b.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** The hash {@code r} should have, computed from its fields. */
    public static String hash(AuditRecord r) {
        return hash(
                r.account(),
                r.seq(),
                r.id(),
                r.at(),
                r.actor(),
                r.action(),
                r.target(),
                r.outcome(),
                r.details(),
                r.prevHash());
    }

    /** Checks a whole chain held in memory; see {@link Verifier}. */
    public static Verification verify(String account, List<AuditRecord> records) {
        Verifier v = new Verifier(account);
        records.forEach(v::add);
        return v.result();
    }

    /**
     * Checks a chain fed record by record in order of seq (so that a long chain is read page by
     * page): seqs consecutive from 1, each record's prevHash the previous record's hash, each
     * hash recomputed from the record's fields, and the chain passing through every head
     * {@linkplain #expect expected} (the head row, or heads shipped to an external log). The
     * first bad record is remembered; the records after it are counted but not checked.
     */
    public static final class Verifier {
        private final String account;
        private final List<Head> known = new java.util.ArrayList<>();
        private String prev = GENESIS;
        private long expected = 1;
        private long records;
        private Head head = new Head(0, GENESIS);
        private Long firstBadSeq;
        private String problem;

        public Verifier(String account) {
            this.account = Objects.requireNonNull(account, "account");
        }

        /**
         * Requires the chain to pass through {@code head}, recorded earlier: the record with its seq
         * must have its hash, and the chain must not end before it. A rewrite of the whole chain
         * (hashes recomputed) shows only this way.
         */
        public Verifier expect(Head head) {
            if (head.seq() > 0) {
                known.add(head);
            }
            return this;
        }

        public void add(AuditRecord r) {
            records++;
            head = new Head(r.seq(), r.hash());
            if (firstBadSeq != null) {
                return;
            }
            String p = null;
            if (!account.equals(r.account())) {
                p = "record of account '" + r.account() + "' in the chain of '" + account + "'";
            } else if (r.seq() != expected) {
                p = r.seq() > expected
                        ? "seq " + expected + (r.seq() == expected + 1 ? "" : " to " + (r.seq() - 1))
                                + " missing (the next record has seq " + r.seq() + ")"
                        : "seq " + r.seq() + " out of order (expected: " + expected + ")";
            } else if (!prev.equals(r.prevHash())) {
                p = "prevHash is not the hash of seq " + (expected - 1)
                        + ": records were removed, inserted or reordered";
            } else if (!hash(r).equals(r.hash())) {
                p = "hash does not match the record's fields: a field was changed";
            } else {
                for (Head k : known) {
                    if (k.seq() == r.seq() && !k.hash().equals(r.hash())) {
                        p = "hash differs from the head recorded earlier (" + k.seq() + ":" + k.hash()
                                + "): the chain was rewritten";
                    }
                }
            }
            if (p != null) {
                firstBadSeq = expected;
                problem = p;
                return;
            }
            prev = r.hash();
            expected++;
        }

        /**
         * Reports {@code count} records from seq {@code firstSeq} on stored past the head row: no
         * append writes them (an append moves the head in the same transaction), so somebody
         * inserted them directly. A bad record found earlier stays the one named.
         */
        public void pastHead(long headSeq, long firstSeq, long count) {
            if (count > 0 && firstBadSeq == null) {
                firstBadSeq = firstSeq;
                problem = "records past the head: " + count + " record(s) from seq " + firstSeq
                        + " after the head row's seq " + headSeq
                        + ", which no append wrote: they were inserted directly into the store";
            }
        }

        public Verification result() {
            Long bad = firstBadSeq;
            String why = problem;
            if (bad == null) {
                for (Head k : known) {
                    if (k.seq() > head.seq() && (bad == null || why == null)) {
                        bad = head.seq() + 1;
                        why = "the chain ends at seq " + head.seq() + " but a head recorded earlier has seq " + k.seq()
                                + ": the last records were removed";
                    }
                }
            }
            return new Verification(account, records, head, bad == null, bad, why);
        }
    }

    /** {@code SEQ:HASH} as the gateway logs heads, for {@link Verifier#expect}. */
    public static Head parseHead(String text) {
        int colon = text == null ? -1 : text.indexOf(':');
        try {
            if (colon > 0) {
                long seq = Long.parseLong(text.substring(0, colon));
                String hash = text.substring(colon + 1);
                if (seq >= 0 && hash.matches("[0-9a-f]{64}")) {
                    return new Head(seq, hash);
                }
            }
        } catch (NumberFormatException e) {
            // the message below says what is expected
        }
        throw new IllegalArgumentException("head: '" + text + "' (expected: SEQ:HASH, a seq and 64 hex digits, as the "
                + "gateway logs them in 'audit heads:')");
    }

    static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }
}
