package dev.underpass.controlplane.credential;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.RemovalCause;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Secrets;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.TimeMeter;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Optional;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Failed authentication attempts, counted per source and per principal, so that a client that
 * keeps failing is told to back off and a flood of bad credentials stays cheap. A correct
 * credential is never refused because of failures: every presented credential is checked, and
 * a correct one is accepted whatever the counts say, so nobody can lock a key, a token or a
 * shared address out by failing in its name. A failed attempt is answered as the check refused
 * it (401) while its source and its principal are within their limits, and beyond them with
 * {@link Refusal} (429 with {@code Retry-After}). Guessing needs no limit: keys and tokens carry
 * 256 random bits.
 *
 * <p>Each source and each principal has a token bucket (Bucket4j): {@link Limits#perSource()} (or
 * {@link Limits#perPrincipal()}) failures are allowed in a burst, and one more each
 * {@code window / limit} after that; failures beyond that are answered 429 and do not count
 * further, so the time to wait never runs away. A <em>source</em> is the client's IP address; for
 * IPv6 it is the address's /64 network, since one host commonly holds a whole /64. A
 * <em>principal</em> is the public prefix of the presented credential ({@link Secrets#shownPrefix}:
 * {@code upk_}, {@code upa_} or {@code upe_} and 8 characters, as key, token and enrollment lists
 * show it); the secret itself is never kept. For an agent's JWT it is the agent identity the agent
 * names ({@code wid-...}), since every JWT begins alike. A credential without a recognisable prefix
 * counts for its source only. Only presented credentials that were refused count: a request
 * without any credential is answered as before, and a successful authentication resets nothing.
 *
 * <p>A secret the store knows by its SHA-256 (an API key, an agent or enrollment token) that was
 * refused is remembered by that hash for one window ({@link #lookup}): such a refusal is final
 * (unknown, revoked, expired, used), and a client retrying the same secret then costs no store
 * lookup. At most {@value #MAX_REMEMBERED} are remembered, the oldest forgotten first.
 *
 * <p>Memory is bounded: at most {@link Limits#maxTracked()} sources and as many principals are
 * tracked, in Caffeine caches that forget an entry once its bucket is full again and, beyond the
 * bound, the entries Caffeine's policy values least (under a flood of new sources, the least
 * recently failing; see ADR 0019). Attempts answered 429 are
 * logged at most once per source or principal per window (the next line says how many there were
 * in between), and at most {@value #LOG_LINES_PER_WINDOW} such lines per window in all.
 */
public final class AuthFailures {
    static final Logger log = LoggerFactory.getLogger("underpass.auth");
    /** Refusal lines logged per window, over all sources and principals. */
    static final int LOG_LINES_PER_WINDOW = 100;
    /** Refused secrets remembered at most: a few MB. */
    static final int MAX_REMEMBERED = 10_000;

    /**
     * How many failed attempts are allowed per window, per source and per principal, and how many
     * of each are tracked at most.
     */
    public record Limits(int perSource, int perPrincipal, Duration window, int maxTracked) {
        /**
         * 20 failures per minute per source (a source is often a NAT that many clients share) and
         * 5 per minute per principal (one credential, whose holder should fix it); 100,000 of each
         * tracked, a few tens of MB at most.
         */
        public static final Limits DEFAULTS = new Limits(20, 5, Duration.ofMinutes(1), 100_000);

        public Limits {
            if (perSource < 1 || perPrincipal < 1) {
                throw new IllegalArgumentException("auth failure limits: perSource " + perSource + ", perPrincipal "
                        + perPrincipal + " (expected: at least 1 each)");
            }
            if (window == null || window.toMillis() < 1) {
                throw new IllegalArgumentException("auth failure window: " + window + " (expected: at least 1 ms)");
            }
            if (maxTracked < 1) {
                throw new IllegalArgumentException(
                        "auth failure maxTracked: " + maxTracked + " (expected: at least 1)");
            }
        }
    }

    /** A failed attempt over the limits: why, and after how many seconds to retry. */
    public record Refusal(String detail, long retryAfterSeconds) {
        /** As the domain refuses it: {@link Refused.Kind#TOO_MANY_ATTEMPTS}, which the API answers 429 with {@code Retry-After}. */
        public Refused exception() {
            return Refused.tooManyAttempts(detail, retryAfterSeconds);
        }
    }

    private final Limits limits;
    private final LongSupplier nanoTime;
    /** Where the clock of buckets and caches starts, so that their times are never negative. */
    private final long origin;

    private final long window;
    private final Table sources;
    private final Table principals;
    /** Refusals of secrets by their SHA-256, each forgotten a window after it was refused. */
    private final Cache<String, Refused> remembered;
    /** Start of the current window of the log budget, and the lines logged in it. */
    private long logWindowStart;

    private int logLines;
    /** Refusals counted for entries that were dropped before their count was logged. */
    private long dropped;

    /** The default limits on the system's monotonic clock. */
    public AuthFailures() {
        this(Limits.DEFAULTS, System::nanoTime);
    }

    /** {@code nanoTime}: a monotonic clock in nanoseconds, like {@link System#nanoTime()}. */
    public AuthFailures(Limits limits, LongSupplier nanoTime) {
        this.limits = limits;
        this.nanoTime = nanoTime;
        this.origin = nanoTime.getAsLong();
        this.window = limits.window().toNanos();
        this.sources = new Table(limits.perSource());
        this.principals = new Table(limits.perPrincipal());
        this.remembered = Caffeine.newBuilder()
                .maximumSize(MAX_REMEMBERED)
                .expireAfterWrite(limits.window())
                .ticker(this::now)
                .executor(Runnable::run) // maintenance on the caller's thread: no pool thread, and tests see it at once
                .build();
        this.logWindowStart = now();
    }

    public Limits limits() {
        return limits;
    }

    /** Nanoseconds since this was built: the one clock of buckets, caches and the log budget. */
    private long now() {
        return nanoTime.getAsLong() - origin;
    }

    /**
     * Runs {@code check}, the store's check of a secret it knows by SHA-256, unless the same secret
     * was refused within the last window: then that refusal again, without asking the store. A
     * refusal of kind {@link Refused.Kind#UNAUTHENTICATED} that {@code check} throws is remembered,
     * by the secret's SHA-256 (never the secret). Not for JWTs, which the store does not know by
     * hash and whose refusals need not be final.
     */
    public <T> T lookup(String secret, Supplier<T> check) {
        String hash = Secrets.sha256Hex(secret);
        Refused earlier = remembered.getIfPresent(hash);
        if (earlier != null) {
            throw earlier;
        }
        try {
            return check.get();
        } catch (Refused e) {
            if (e.kind() == Refused.Kind.UNAUTHENTICATED) {
                remembered.put(hash, e);
            }
            throw e;
        }
    }

    /**
     * What to answer for a credential the check refused with {@code refusal} (unauthenticated):
     * counted as {@link #failed} counts it, it is {@code refusal} itself while within the limits,
     * else the refusal for too many attempts.
     */
    public Refused refused(Refused refusal, SocketAddress from, String credential, String where) {
        return failed(from, credential, where).map(Refusal::exception).orElse(refusal);
    }

    /**
     * Counts a credential from {@code from} that was checked and refused (unknown, revoked,
     * expired, a JWT that failed). Empty while the source and the principal are within their
     * limits: the attempt is answered as the check refused it. Else the refusal to answer instead
     * (429), logged here, sparingly, as {@code where} saw it ("API", "HTTP proxy"...). A null
     * {@code from} is not limited by source.
     */
    public Optional<Refusal> failed(SocketAddress from, String credential, String where) {
        String source = source(from);
        String principal = principal(credential);
        long now = now();
        Refusal refusal;
        String line;
        synchronized (this) {
            long bySource = source == null ? 0 : sources.waitNanos(source);
            long byPrincipal = principal == null ? 0 : principals.waitNanos(principal);
            if (bySource <= 0 && byPrincipal <= 0) {
                // Both within their limits, so both count; over a limit, neither does, so a flood never pushes the wait
                // out.
                if (source != null) {
                    sources.fail(source);
                }
                if (principal != null) {
                    principals.fail(principal);
                }
                sources.entries.cleanUp();
                principals.entries.cleanUp();
                return Optional.empty();
            }
            boolean bySourceFirst = bySource >= byPrincipal;
            Table table = bySourceFirst ? sources : principals;
            String key = bySourceFirst ? source : principal;
            String subject = bySourceFirst ? "from " + source : "with " + describe(principal);
            long seconds = Math.max(1, (Math.max(bySource, byPrincipal) + 999_999_999L) / 1_000_000_000L);
            refusal = new Refusal(
                    "too many failed authentication attempts " + subject + " (at most " + table.limit + " per "
                            + windowText() + "); retry in " + seconds + " s",
                    seconds);
            line = logLine(table.entries.policy().getIfPresentQuietly(key), now, subject);
        }
        if (line != null) {
            log.warn(
                    "{} attempt from {} failed over the limit: {}{}",
                    where,
                    from == null ? "an unknown address" : from,
                    refusal.detail(),
                    line);
        }
        return Optional.of(refusal);
    }

    /** How many sources and principals are tracked now (for tests and diagnosis). */
    public synchronized int tracked() {
        sources.entries.cleanUp();
        principals.entries.cleanUp();
        return Math.toIntExact(sources.entries.estimatedSize() + principals.entries.estimatedSize());
    }

    /**
     * What a refusal line adds, or null when it is not to be logged: the first refusal of an
     * entry in a window is, within the overall budget; the others are counted into the next line.
     */
    private String logLine(Entry e, long now, String subject) {
        e.refused++;
        if (e.logged && now - e.loggedAt < window) {
            return null;
        }
        if (now - logWindowStart >= window) {
            logWindowStart = now;
            logLines = 0;
        }
        if (logLines >= LOG_LINES_PER_WINDOW) {
            return null;
        }
        logLines++;
        long earlier = e.refused - 1;
        e.refused = 0;
        e.logged = true;
        e.loggedAt = now;
        StringBuilder s = new StringBuilder();
        if (earlier > 0) {
            s.append(" (")
                    .append(earlier)
                    .append(" more failed ")
                    .append(subject)
                    .append(" since the last such line)");
        }
        if (dropped > 0) {
            s.append(" (")
                    .append(dropped)
                    .append(" refusal(s) of sources or principals no longer tracked were not logged)");
            dropped = 0;
        }
        return s.toString();
    }

    /** The source an address counts for: an IPv4 address, or an IPv6 address's /64. Null for null. */
    static String source(SocketAddress from) {
        if (from == null) {
            return null;
        }
        if (from instanceof InetSocketAddress isa && isa.getAddress() != null) {
            InetAddress a = isa.getAddress();
            if (a instanceof Inet6Address && !a.isLoopbackAddress()) {
                byte[] b = a.getAddress();
                StringBuilder s = new StringBuilder();
                for (int i = 0; i < 8; i += 2) {
                    s.append(Integer.toHexString(((b[i] & 0xff) << 8) | (b[i + 1] & 0xff)))
                            .append(':');
                }
                return s.append(":/64").toString();
            }
            return a.getHostAddress();
        }
        if (from instanceof InetSocketAddress isa) {
            return isa.getHostString();
        }
        return from.toString();
    }

    /**
     * The public prefix of a credential that has one ({@code upk_}, {@code upa_} or {@code upe_} and 8 characters),
     * or an agent identity's id; else null.
     */
    static String principal(String credential) {
        if (AgentIdentities.wellFormedId(credential)) {
            return credential; // an agent identity's id: JWTs all start alike, so they count by the identity they name
        }
        if (credential == null
                || credential.length() < Secrets.SHOWN_PREFIX_LENGTH
                || !(credential.startsWith(Secrets.API_KEY_PREFIX)
                        || credential.startsWith(Secrets.AGENT_TOKEN_PREFIX)
                        || credential.startsWith(Secrets.ENROLLMENT_TOKEN_PREFIX))) {
            return null;
        }
        for (int i = Secrets.API_KEY_PREFIX.length(); i < Secrets.SHOWN_PREFIX_LENGTH; i++) {
            char c = credential.charAt(i);
            boolean base64url =
                    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            if (!base64url) {
                return null;
            }
        }
        return Secrets.shownPrefix(credential);
    }

    private String windowText() {
        Duration w = limits.window();
        return w.toMillis() % 1000 == 0 ? w.toSeconds() + " s" : w.toMillis() + " ms";
    }

    private static String describe(String principal) {
        if (principal.startsWith(AgentIdentities.ID_PREFIX)) {
            return "agent identity " + principal;
        }
        if (principal.startsWith(Secrets.ENROLLMENT_TOKEN_PREFIX)) {
            return "enrollment token " + principal;
        }
        return (principal.startsWith(Secrets.API_KEY_PREFIX) ? "API key " : "agent token ") + principal;
    }

    /**
     * The buckets of one kind (sources or principals): at most {@link Limits#maxTracked()}, each
     * forgotten once its bucket is full again (it would say nothing a new one does not).
     */
    private final class Table {
        final int limit;
        final Cache<String, Entry> entries;

        Table(int limit) {
            this.limit = limit;
            this.entries = Caffeine.newBuilder()
                    .maximumSize(limits.maxTracked())
                    .expireAfter(new UntilFull())
                    .ticker(AuthFailures.this::now)
                    .executor(Runnable::run)
                    // Under the lock of failed(): every change to these caches happens there or in tracked().
                    .evictionListener((String key, Entry e, RemovalCause cause) -> dropped += e == null ? 0 : e.refused)
                    .build();
        }

        /** How long failures for {@code key} are still over the limit; 0 when one more is within it. */
        long waitNanos(String key) {
            // Quietly: a check is not a failure, and only failures should keep an entry among the tracked.
            Entry e = entries.policy().getIfPresentQuietly(key);
            return e == null ? 0 : e.bucket.estimateAbilityToConsume(1).getNanosToWaitForRefill();
        }

        void fail(String key) {
            entries.asMap().compute(key, (k, e) -> {
                Entry entry = e != null
                        ? e
                        : new Entry(Bucket.builder()
                                .addLimit(l -> l.capacity(limit).refillGreedy(limit, limits.window()))
                                .withCustomTimePrecision(clock)
                                .build());
                entry.bucket.tryConsume(1);
                return entry; // written again, so that its expiry follows the bucket
            });
        }

        /** Bucket4j's view of the same clock as the caches. */
        private final TimeMeter clock = new TimeMeter() {
            @Override
            public long currentTimeNanos() {
                return now();
            }

            @Override
            public boolean isWallClockBased() {
                return false;
            }
        };

        /** An entry lives until its bucket is full again, after its last failure. */
        private final class UntilFull implements Expiry<String, Entry> {
            @Override
            public long expireAfterCreate(String key, Entry e, long currentTime) {
                return untilFull(e);
            }

            @Override
            public long expireAfterUpdate(String key, Entry e, long currentTime, long currentDuration) {
                return untilFull(e);
            }

            @Override
            public long expireAfterRead(String key, Entry e, long currentTime, long currentDuration) {
                return currentDuration;
            }

            /** One nanosecond past full: a failure at the very moment it fills still finds (and counts on) the entry. */
            private long untilFull(Entry e) {
                return e.bucket.estimateAbilityToConsume(limit).getNanosToWaitForRefill() + 1;
            }
        }
    }

    /** One source's or principal's bucket, and what its refusals logged. */
    private static final class Entry {
        final Bucket bucket;
        boolean logged;
        long loggedAt;
        /** Refusals since the last line logged about this entry. */
        long refused;

        Entry(Bucket bucket) {
            this.bucket = bucket;
        }
    }
}
