package dev.underpass.gateway.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.crypto.factories.DefaultJWSVerifierFactory;
import com.nimbusds.jwt.EncryptedJWT;
import com.nimbusds.jwt.JWT;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.JWTParser;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import java.security.Key;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Set;

/**
 * The checks every JWT from a trusted issuer passes, whoever presents it (an agent, an API
 * user): a signed JWS with an asymmetric algorithm, {@code iss} the issuer, a signature by one
 * of the issuer's keys, {@code aud} containing the expected audience, {@code exp} present and in
 * the future, {@code nbf} and {@code iat} not in the future, with {@link #CLOCK_SKEW}. Each
 * refusal says which check failed, never echoing the token. What the claims then stand for
 * (a binding's subject, a user) is the caller's business.
 */
public final class JwtCheck {
    /** How far clocks of the issuer and the gateway may differ when checking exp, nbf and iat. */
    static final Duration CLOCK_SKEW = Duration.ofSeconds(60);
    /**
     * Asymmetric algorithms only: {@code none} would need no key, and an HMAC algorithm would
     * take the issuer's public key as its secret. EdDSA is left out: nimbus verifies it only with
     * Google Tink on the class path.
     */
    static final Set<JWSAlgorithm> ALGORITHMS = Set.of(
            JWSAlgorithm.RS256,
            JWSAlgorithm.RS384,
            JWSAlgorithm.RS512,
            JWSAlgorithm.PS256,
            JWSAlgorithm.PS384,
            JWSAlgorithm.PS512,
            JWSAlgorithm.ES256,
            JWSAlgorithm.ES384,
            JWSAlgorithm.ES512);

    static final String EXPECTED_ALGORITHMS = "RS256/384/512, PS256/384/512 or ES256/384/512";
    /** Longest JWT looked at: service-account and CI tokens are 1-2 KB. */
    static final int MAX_TOKEN_CHARS = 16 * 1024;

    /**
     * What a check found: the claims of a valid token, or why not (unavailable: the keys could
     * not be fetched). {@code authentic}: a key of the issuer verified the signature, so the
     * token really comes from the issuer even when a later check (audience, times) refused it.
     */
    record Outcome(JWTClaimsSet claims, String refusal, boolean unavailable, boolean authentic) {
        static Outcome valid(JWTClaimsSet claims) {
            return new Outcome(claims, null, false, true);
        }

        static Outcome refused(String why) {
            return new Outcome(null, why, false, false);
        }

        /** Refused after its signature verified: wrong audience, expired, not yet valid. */
        static Outcome refusedAuthentic(String why) {
            return new Outcome(null, why, false, true);
        }

        static Outcome unavailable(String why) {
            return new Outcome(null, why, true, false);
        }

        boolean valid() {
            return claims != null;
        }
    }

    private final Clock clock;
    private final DefaultJWSVerifierFactory verifiers = new DefaultJWSVerifierFactory();

    JwtCheck(Clock clock) {
        this.clock = clock;
    }

    /** Checks {@code jwt} against the issuer of {@code keys} for {@code audience}. Never throws for a bad token. */
    Outcome check(String jwt, IssuerKeys keys, String audience) {
        String issuer = keys.issuer().issuer();
        if (jwt.length() > MAX_TOKEN_CHARS) {
            return Outcome.refused("malformed token: " + jwt.length() + " characters (expected: a JWT of at most "
                    + MAX_TOKEN_CHARS + ")");
        }
        JWT parsed;
        try {
            parsed = JWTParser.parse(jwt);
        } catch (ParseException e) {
            return Outcome.refused("malformed token: not a JWT (" + quoted(e.getMessage()) + ")");
        } catch (RuntimeException e) {
            return Outcome.refused("malformed token: not a JWT (" + e.getClass().getSimpleName() + ")");
        }
        if (parsed instanceof PlainJWT) {
            return Outcome.refused("unsigned token: alg none (expected: " + EXPECTED_ALGORITHMS + ")");
        }
        if (parsed instanceof EncryptedJWT || !(parsed instanceof SignedJWT signed)) {
            return Outcome.refused("encrypted token (expected: a signed JWT, " + EXPECTED_ALGORITHMS + ")");
        }
        JWSAlgorithm alg = signed.getHeader().getAlgorithm();
        if (!ALGORITHMS.contains(alg)) {
            return Outcome.refused("unsupported algorithm " + alg + " (expected: " + EXPECTED_ALGORITHMS + ")");
        }
        JWTClaimsSet claims;
        try {
            claims = signed.getJWTClaimsSet();
        } catch (ParseException e) {
            return Outcome.refused(
                    "malformed token: its claims are not a JSON object (" + quoted(e.getMessage()) + ")");
        }
        if (!issuer.equals(claims.getIssuer())) {
            return Outcome.refused("wrong issuer: iss " + quoted(claims.getIssuer()) + " (expected: " + issuer + ")");
        }
        Outcome signature = checkSignature(keys, signed);
        if (signature != null) {
            return signature;
        }
        if (claims.getAudience() == null || !claims.getAudience().contains(audience)) {
            return Outcome.refusedAuthentic(
                    "wrong audience: aud " + claims.getAudience() + " (expected to contain: " + audience + ")");
        }
        String time = checkTimes(claims);
        return time != null ? Outcome.refusedAuthentic(time) : Outcome.valid(claims);
    }

    /** Null when a key of the issuer verifies the signature; else the refusal. */
    private Outcome checkSignature(IssuerKeys keys, SignedJWT signed) {
        String kid = signed.getHeader().getKeyID();
        List<Key> candidates;
        try {
            candidates = keys.keys(signed.getHeader());
        } catch (KeySourceException e) {
            return Outcome.unavailable("the issuer's JWKS is unreachable (" + e.getMessage() + ")");
        }
        if (candidates.isEmpty()) {
            return Outcome.refused("unknown key: the issuer's JWKS has no "
                    + signed.getHeader().getAlgorithm() + " key" + (kid == null ? "" : " with kid " + quoted(kid)));
        }
        for (Key key : candidates) {
            try {
                JWSVerifier verifier = verifiers.createJWSVerifier(signed.getHeader(), key);
                if (signed.verify(verifier)) {
                    return null;
                }
            } catch (JOSEException | IllegalStateException e) {
                // a key of the wrong size or curve for this header: try the next one
            }
        }
        return Outcome.refused("bad signature: no key of the issuer" + (kid == null ? "" : " with kid " + quoted(kid))
                + " verifies it");
    }

    /** Null when exp is present and in the future and nbf and iat are not in the future, within the skew. */
    private String checkTimes(JWTClaimsSet claims) {
        Instant now = clock.instant();
        Date exp = claims.getExpirationTime();
        if (exp == null) {
            return "no expiry: the token has no exp (expected: a short-lived token)";
        }
        if (!exp.toInstant().plus(CLOCK_SKEW).isAfter(now)) {
            return "expired at " + exp.toInstant() + " (now " + now + ", " + CLOCK_SKEW.toSeconds()
                    + " s of clock skew allowed)";
        }
        Date nbf = claims.getNotBeforeTime();
        if (nbf != null && nbf.toInstant().minus(CLOCK_SKEW).isAfter(now)) {
            return "not yet valid: nbf " + nbf.toInstant() + " (now " + now + ")";
        }
        Date iat = claims.getIssueTime();
        if (iat != null && iat.toInstant().minus(CLOCK_SKEW).isAfter(now)) {
            return "not yet valid: issued in the future, iat " + iat.toInstant() + " (now " + now + ")";
        }
        return null;
    }

    /** A claim value as shown: quoted, cut short, control characters replaced (it comes from the presenter). */
    static String quoted(String value) {
        if (value == null) {
            return "(none)";
        }
        String v = value.length() > 200 ? value.substring(0, 200) + "..." : value;
        return "'" + v.replaceAll("\\p{Cntrl}", "?") + "'";
    }
}
