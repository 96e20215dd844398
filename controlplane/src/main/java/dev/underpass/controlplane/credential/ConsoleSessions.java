package dev.underpass.controlplane.credential;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import org.jdbi.v3.core.Jdbi;

/**
 * Web console sign-ins (ADR 26). Signing in with an API key opens a session: a random secret the
 * browser keeps in an HttpOnly cookie, of which the store keeps the SHA-256, and a CSRF token the
 * console sends back in a header with every change. A session acts exactly as its key does (role,
 * scopes, revocation, expiry) and ends at sign-out, after {@link #IDLE} without a request, or
 * {@link #MAX_AGE} after sign-in. Sessions live in the store, so every node of a cluster knows them.
 */
public final class ConsoleSessions {
    /** How long a session lasts without a request. */
    public static final Duration IDLE = Duration.ofMinutes(30);
    /** How long a session lasts at most, however busy. */
    public static final Duration MAX_AGE = Duration.ofHours(12);
    /** A session's last request is written at most this often: a page that polls should not write each time. */
    static final Duration SEEN_RESOLUTION = Duration.ofSeconds(30);

    /** A new session: {@code secret} goes into the cookie and is not shown again. */
    public record Opened(String secret, String csrf, Principal principal) {}

    /** The caller of a request that came with a session cookie, and the session's CSRF token. */
    public record Current(String id, Principal principal, String csrf) {}

    private final Jdbi jdbi;
    private final Clock clock;
    private final ApiKeys keys;

    public ConsoleSessions(Jdbi jdbi, Clock clock, ApiKeys keys) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.keys = keys;
    }

    /**
     * Signs in with {@code apiKey}, counted as any API authentication from {@code from} is.
     *
     * @throws Refused UNAUTHENTICATED for a key that is unknown, revoked or expired, or 429 after too many
     */
    public Opened signIn(String apiKey, SocketAddress from) {
        Principal p = keys.authenticate(apiKey, from, "console");
        String secret = Secrets.consoleSession();
        String csrf = Secrets.token();
        Instant now = clock.instant();
        Instant expires = now.plus(MAX_AGE);
        if (p.keyExpiresAt() != null && p.keyExpiresAt().isBefore(expires)) {
            expires = p.keyExpiresAt();
        }
        Instant end = expires;
        jdbi.useHandle(h -> {
            h.createUpdate("delete from console_sessions where expires_at <= :now or last_seen_at <= :idle")
                    .bind("now", Sql.at(now))
                    .bind("idle", Sql.at(now.minus(IDLE)))
                    .execute();
            h.createUpdate("insert into console_sessions (id, secret_sha256, csrf, api_key_seq, created_at, "
                            + "last_seen_at, expires_at) select :id, :h, :csrf, seq, :now, :now, :end from api_keys "
                            + "where id = :key")
                    .bind("id", Secrets.id("cs-", 16))
                    .bind("h", Secrets.sha256Hex(secret))
                    .bind("csrf", csrf)
                    .bind("now", Sql.at(now))
                    .bind("end", Sql.at(end))
                    .bind("key", p.keyId())
                    .execute();
        });
        return new Opened(secret, csrf, p);
    }

    /**
     * The session of cookie value {@code secret}, as its key acts now; its last request is now.
     *
     * @throws Refused UNAUTHENTICATED when there is no such session, or it ended
     */
    public Current authenticate(String secret) {
        Instant now = clock.instant();
        Session s =
                jdbi.withHandle(h -> h.createQuery("select s.id, s.csrf, s.last_seen_at, s.expires_at, k.id as key_id "
                                + "from console_sessions s join api_keys k on k.seq = s.api_key_seq "
                                + "where s.secret_sha256 = :h")
                        .bind("h", Secrets.sha256Hex(secret))
                        .map((rs, ctx) -> new Session(
                                rs.getString("id"),
                                rs.getString("csrf"),
                                Sql.instant(rs, "last_seen_at"),
                                Sql.instant(rs, "expires_at"),
                                rs.getString("key_id")))
                        .findOne()
                        .orElse(null));
        if (s == null) {
            throw Refused.unauthenticated("no console session: it ended or never began; sign in again");
        }
        if (!s.expiresAt().isAfter(now) || !s.lastSeenAt().plus(IDLE).isAfter(now)) {
            end(s.id());
            throw Refused.unauthenticated("the console session ended ("
                    + (s.expiresAt().isAfter(now)
                            ? "idle for " + IDLE.toMinutes() + " minutes"
                            : "it is " + MAX_AGE.toHours() + " hours old")
                    + "); sign in again");
        }
        Principal p = keys.principalOfKey(s.keyId());
        if (s.lastSeenAt().isBefore(now.minus(SEEN_RESOLUTION))) {
            jdbi.useHandle(h -> h.createUpdate("update console_sessions set last_seen_at = :now where id = :id")
                    .bind("now", Sql.at(now))
                    .bind("id", s.id())
                    .execute());
        }
        return new Current(s.id(), p, s.csrf());
    }

    /** Whether {@code sent} (the request's CSRF header) is the session's token; compared in constant time. */
    public static boolean csrfMatches(Current session, String sent) {
        return sent != null
                && MessageDigest.isEqual(
                        session.csrf().getBytes(StandardCharsets.UTF_8), sent.getBytes(StandardCharsets.UTF_8));
    }

    /** Ends session {@code id} (sign-out). */
    public void end(String id) {
        jdbi.useHandle(h -> h.createUpdate("delete from console_sessions where id = :id")
                .bind("id", id)
                .execute());
    }

    private record Session(String id, String csrf, Instant lastSeenAt, Instant expiresAt, String keyId) {}
}
