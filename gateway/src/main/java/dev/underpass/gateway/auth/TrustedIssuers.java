package dev.underpass.gateway.auth;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The OIDC issuers the operator trusts ({@code oidcIssuers}), each with its keys: one
 * {@link IssuerKeys} per issuer, shared by agents' and users' JWT checks, so that an issuer's
 * JWKS is cached and rate limited once.
 */
public final class TrustedIssuers {
    private final Map<String, IssuerKeys> byIssuer = new LinkedHashMap<>();

    public TrustedIssuers(List<OidcIssuer> trusted, IssuerKeys.Settings settings) {
        for (OidcIssuer o : trusted) {
            byIssuer.put(o.issuer(), new IssuerKeys(o, JwtCheck.ALGORITHMS, settings));
        }
    }

    /** The keys of {@code issuer}, or null when it is not trusted. */
    public IssuerKeys keys(String issuer) {
        return byIssuer.get(issuer);
    }
}
