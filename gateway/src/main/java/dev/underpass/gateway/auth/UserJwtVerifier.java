package dev.underpass.gateway.auth;

import dev.underpass.controlplane.tenancy.OidcLogins;
import java.time.Clock;

/**
 * Checks API users' JWTs for OIDC login ({@code oidcUsers}): the {@link JwtCheck} of the
 * configured issuer for the users' audience. The control plane then maps the verified
 * {@code sub} to the user of the account the request names ({@code underpass-account},
 * {@link OidcLogins}). Refusals name no token.
 */
public final class UserJwtVerifier implements OidcLogins.Verifier {
    private final IssuerKeys keys;
    private final String audience;
    private final JwtCheck check;

    public UserJwtVerifier(IssuerKeys keys, String audience, Clock clock) {
        this.keys = keys;
        this.audience = audience;
        this.check = new JwtCheck(clock);
    }

    @Override
    public OidcLogins.Verdict verify(String jwt) {
        JwtCheck.Outcome outcome = check.check(jwt, keys, audience);
        if (outcome.unavailable()) {
            return OidcLogins.Verdict.unavailable(outcome.refusal());
        }
        if (!outcome.valid()) {
            return OidcLogins.Verdict.refused(outcome.refusal());
        }
        String sub = outcome.claims().getSubject();
        return sub == null || sub.isEmpty()
                ? OidcLogins.Verdict.refused("no subject: the token has no sub")
                : OidcLogins.Verdict.valid(sub);
    }
}
