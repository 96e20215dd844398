package dev.underpass.controlplane.tenancy;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.protocol.Protocol;
import java.net.SocketAddress;
import java.util.Objects;

/**
 * OIDC login for API users: a JWT from the issuer the operator configured ({@code oidcUsers}),
 * presented with the name of an account ({@code underpass-account}), stands for the user of that
 * account whose {@code oidcSubject} is the JWT's {@code sub}, with the user's whole role (no key
 * narrows it), shown as key {@value #KEY_ID}. Subjects are unique per account, so the account
 * named is the only one searched: no account can capture another's logins. The gateway verifies
 * the JWT itself (signature, issuer, audience, times) and gives this class only the verified
 * subject; failures count in {@link AuthFailures} like bad keys, by source.
 */
public final class OidcLogins {
    /** The key id principals of an OIDC login show (whoami, audit records). */
    public static final String KEY_ID = "oidc";
    /** The request header naming the account an OIDC login is for ({@link Protocol#HEADER_ACCOUNT}). */
    private static final String ACCOUNT_HEADER = Protocol.HEADER_ACCOUNT.toString();
    /** Longest account name (a DNS label). */
    private static final int MAX_ACCOUNT_NAME = 63;

    /** Checks a presented JWT; the gateway's implementation holds the issuer's keys. */
    public interface Verifier {
        Verdict verify(String jwt);
    }

    /** The verified {@code sub}, or why the JWT is refused (401) or cannot be checked now (503). */
    public record Verdict(String subject, int status, String reason) {
        public static Verdict valid(String subject) {
            return new Verdict(Objects.requireNonNull(subject, "subject"), 200, null);
        }

        public static Verdict refused(String reason) {
            return new Verdict(null, 401, reason);
        }

        public static Verdict unavailable(String reason) {
            return new Verdict(null, 503, reason);
        }
    }

    private final org.jdbi.v3.core.Jdbi jdbi;
    private final AuthFailures failures;
    /** The gateway's check of JWTs; null while OIDC login is off. */
    private final Verifier verifier;

    public OidcLogins(org.jdbi.v3.core.Jdbi jdbi, AuthFailures failures, Verifier verifier) {
        this.jdbi = jdbi;
        this.failures = failures;
        this.verifier = verifier;
    }

    /** Whether a bearer credential that is not an API key is taken for a user's JWT. */
    public boolean enabled() {
        return verifier != null;
    }

    /**
     * The user of {@code account} a JWT presented from {@code from} logs in as.
     *
     * @param account the {@code underpass-account} header, or null when the request has none
     * @throws Refused UNAUTHENTICATED (no account named, the JWT is refused, or no user of the account
     *         has its subject, in the same words whether the account exists or not), instead 429
     *         once {@code from} has failed too often, 503 (the issuer's keys cannot be fetched)
     */
    public Principal authenticate(String jwt, String account, SocketAddress from, String where) {
        Verifier v = verifier;
        if (v == null) {
            throw Refused.unauthenticated(
                    "OIDC login is not configured on this gateway (expected: an API key, upk_...)");
        }
        if (account == null || account.isBlank()) {
            // Not a guess at a credential, so not counted; the JWT is not even checked.
            throw Refused.unauthenticated("OIDC token without header " + ACCOUNT_HEADER
                    + " (expected: the header naming "
                    + "the account to log in to, " + ACCOUNT_HEADER + ": NAME, alongside an Authorization header: "
                    + "Bearer <JWT>)");
        }
        String accountName = account.strip();
        Verdict verdict = v.verify(jwt);
        if (verdict.status() == 503) {
            throw Refused.unavailable("OIDC token cannot be checked now: " + verdict.reason() + "; retry", 5);
        }
        if (verdict.subject() == null) {
            throw failures.refused(
                    Refused.unauthenticated("OIDC token refused: " + verdict.reason()), from, jwt, where);
        }
        Principal p = jdbi.withHandle(h -> h.createQuery("select u.seq as user_seq, u.name as user_name, u.role, "
                        + "a.seq as account_seq, a.name as account_name, a.operator from users u "
                        + "join accounts a on a.seq = u.account_seq where a.name = :a and u.oidc_subject = :s")
                .bind("a", accountName)
                .bind("s", verdict.subject())
                .map((rs, ctx) -> {
                    Role role = Role.parse(rs.getString("role"));
                    boolean operator = rs.getBoolean("operator");
                    return new Principal(
                            rs.getLong("account_seq"),
                            rs.getString("account_name"),
                            operator,
                            rs.getLong("user_seq"),
                            rs.getString("user_name"),
                            role,
                            role.scopes(operator),
                            KEY_ID,
                            null);
                })
                .findOne()
                .orElse(null));
        if (p == null) {
            // The same words whether the account exists or not: a caller learns nothing about other accounts.
            String named = printable(accountName, MAX_ACCOUNT_NAME);
            throw failures.refused(
                    Refused.unauthenticated("OIDC token refused: no user of account " + named + " has oidcSubject '"
                            + printable(verdict.subject(), Users.MAX_OIDC_SUBJECT) + "' (expected: an admin of account "
                            + named
                            + " sets it on the user first, and " + ACCOUNT_HEADER + " names that account)"),
                    from,
                    jwt,
                    where);
        }
        return p;
    }

    /** {@code text} with control characters replaced, cut at {@code max} characters. */
    private static String printable(String text, int max) {
        String t = text.replaceAll("\\p{Cntrl}", "?");
        return t.length() <= max ? t : t.substring(0, max) + "...";
    }
}
