package dev.underpass.gateway.auth;

import com.nimbusds.jwt.JWTClaimsSet;
import dev.underpass.controlplane.credential.AgentIdentities;
import dev.underpass.controlplane.credential.AgentTokens;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Checks an agent's JWT against the agent identity it names, as AWS's AssumeRoleWithWebIdentity
 * does: the identity (a binding an admin of the account created) names an issuer the operator
 * trusts, a subject and extra claims; the JWT must pass the {@link JwtCheck} of that issuer for
 * its configured audience and match the subject and claims. Then the agent acts for the
 * identity's account.
 *
 * <p>Never throws for a bad token: every refusal is a {@link AgentCredentials.Check} with the
 * reason, which names the identity and issuer but never the token. The JWT authenticates the
 * session when it opens; the session then lives on until the link ends or the identity is
 * deleted (ADR 0013).
 */
public final class AgentJwtVerifier {
    private final TrustedIssuers issuers;
    private final Function<String, Optional<AgentIdentities.Binding>> bindings;
    private final JwtCheck check;

    /** {@code bindings}: the agent identity of an id ({@link AgentIdentities#binding}). */
    public AgentJwtVerifier(
            TrustedIssuers issuers, Function<String, Optional<AgentIdentities.Binding>> bindings, Clock clock) {
        this.issuers = issuers;
        this.bindings = bindings;
        this.check = new JwtCheck(clock);
    }

    /**
     * A check's outcome and whether the JWT's signature verified ({@code authentic}): only such
     * refusals (subject or claim mismatch, wrong audience, expired) say something about the
     * identity's own workloads; anything else may come from anyone who knows the (public) id.
     */
    record Result(AgentCredentials.Check check, boolean authentic) {}

    /**
     * Who {@code jwt} authenticates for agent identity {@code identityId}, or why not: 401 for a
     * bad token, 503 when the issuer's keys cannot be fetched (the agent retries).
     */
    AgentCredentials.Check verify(String jwt, String identityId) {
        return check(jwt, identityId).check();
    }

    /** As {@link #verify}, saying also whether the JWT's signature verified. */
    Result check(String jwt, String identityId) {
        String who = "identity " + identityId;
        Optional<AgentIdentities.Binding> found = bindings.apply(identityId);
        if (found.isEmpty()) {
            return new Result(
                    refused(who, "unknown identity: no agent identity " + identityId + " (deleted, or never created)"),
                    false);
        }
        AgentIdentities.Binding b = found.get();
        who = "identity " + b.id() + " (issuer " + b.issuer() + ")";
        IssuerKeys keys = issuers.keys(b.issuer());
        if (keys == null) {
            return new Result(
                    refused(who, "issuer not trusted: the operator no longer lists " + b.issuer() + " in oidcIssuers"),
                    false);
        }
        JwtCheck.Outcome outcome = check.check(jwt, keys, keys.issuer().audience());
        if (outcome.unavailable()) {
            return new Result(
                    AgentCredentials.Check.unavailable(
                            "OIDC token of " + who + " cannot be checked now: " + outcome.refusal() + "; retry"),
                    false);
        }
        if (!outcome.valid()) {
            return new Result(refused(who, outcome.refusal()), outcome.authentic());
        }
        JWTClaimsSet claims = outcome.claims();
        if (!b.subjectMatches(claims.getSubject())) {
            return new Result(
                    refused(
                            who,
                            "subject mismatch: sub " + JwtCheck.quoted(claims.getSubject())
                                    + " is not the identity's subject"),
                    true);
        }
        for (Map.Entry<String, String> c : b.claims().entrySet()) {
            Object value = claims.getClaim(c.getKey());
            if (!c.getValue().equals(value)) {
                return new Result(
                        refused(
                                who,
                                "claim mismatch: " + c.getKey() + " is "
                                        + (value == null ? "missing" : JwtCheck.quoted(String.valueOf(value)))
                                        + ", not the identity's value"),
                        true);
            }
        }
        return new Result(
                AgentCredentials.Check.accepted(new AgentTokens.Identity(b.account(), b.id(), b.name())), true);
    }

    private static AgentCredentials.Check refused(String who, String reason) {
        return AgentCredentials.Check.refused("OIDC token of " + who + " refused: " + reason);
    }
}
