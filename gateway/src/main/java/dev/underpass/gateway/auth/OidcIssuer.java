package dev.underpass.gateway.auth;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * An OIDC issuer the operator trusts for agents' workload identity ({@code oidcIssuers} in the
 * gateway configuration): its URL, as JWTs name it in {@code iss}; where its keys are (else
 * discovered from {@code issuer + "/.well-known/openid-configuration"}); and the audience its
 * JWTs must carry for this gateway. Only these URLs are ever fetched: tenants bind issuers from
 * this list, they never name a URL.
 */
public record OidcIssuer(
        @JsonProperty("issuer") String issuer,
        @JsonProperty("jwksUri") String jwksUri,
        @JsonProperty("audience") String audience) {
    /** The audience JWTs must carry when the operator names none. */
    public static final String DEFAULT_AUDIENCE = "underpass";

    static final String DISCOVERY_PATH = "/.well-known/openid-configuration";

    public OidcIssuer {
        audience = audience == null ? DEFAULT_AUDIENCE : audience;
    }

    /**
     * OIDC login for API users ({@code oidcUsers}): JWTs of {@code issuer}, one of
     * {@code oidcIssuers} (whose keys they share), for {@code audience}, log in as the user, of
     * the account the request names ({@code underpass-account}), whose {@code oidcSubject} is
     * their {@code sub}. The audience must differ from the one agents'
     * JWTs carry, so that a workload's token can never log in as a person.
     */
    public record Users(
            @JsonProperty("issuer") String issuer,
            @JsonProperty("audience") String audience) {
        /** The audience users' JWTs must carry when the operator names none. */
        public static final String DEFAULT_AUDIENCE = "underpass-api";

        public Users {
            audience = audience == null ? DEFAULT_AUDIENCE : audience;
        }

        public static List<String> validate(Users users, List<OidcIssuer> issuers) {
            List<String> errors = new ArrayList<>();
            if (users == null) {
                return errors;
            }
            OidcIssuer trusted = issuers.stream()
                    .filter(o -> o != null && o.issuer() != null && o.issuer().equals(users.issuer()))
                    .findFirst()
                    .orElse(null);
            if (trusted == null) {
                errors.add("oidcUsers.issuer: " + (users.issuer() == null ? "missing" : users.issuer())
                        + " (expected: one of the issuers listed in oidcIssuers, whose keys it uses)");
            }
            if (users.audience().isBlank() || users.audience().length() > 256) {
                errors.add("oidcUsers.audience: '" + users.audience()
                        + "' (expected: the aud value users' JWTs carry for this "
                        + "gateway, 1-256 characters; default " + DEFAULT_AUDIENCE + ")");
            } else if (trusted != null && users.audience().equals(trusted.audience())) {
                errors.add(
                        "oidcUsers.audience: " + users.audience() + " (expected: another audience than agents' JWTs of "
                                + "that issuer carry, so that an agent's token cannot log in as a user)");
            }
            return errors;
        }
    }

    /** Where the discovery document is: the issuer with {@value #DISCOVERY_PATH} appended (OIDC Discovery §4). */
    public URI discoveryUri() {
        String base = issuer.endsWith("/") ? issuer.substring(0, issuer.length() - 1) : issuer;
        return URI.create(base + DISCOVERY_PATH);
    }

    /** Every problem of {@code issuers}, each as {@code oidcIssuers[i].field: value (expected: ...)}. */
    public static List<String> validate(List<OidcIssuer> issuers) {
        List<String> errors = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < issuers.size(); i++) {
            String field = "oidcIssuers[" + i + "]";
            OidcIssuer o = issuers.get(i);
            if (o == null) {
                errors.add(field + ": empty (expected: issuer, and optionally jwksUri and audience)");
                continue;
            }
            String problem = urlProblem(o.issuer());
            if (problem != null) {
                errors.add(field + ".issuer: " + (o.issuer() == null ? "missing" : o.issuer()) + " (expected: "
                        + problem + ")");
            } else if (!seen.add(o.issuer())) {
                errors.add(field + ".issuer: " + o.issuer() + " (expected: each issuer once)");
            }
            if (o.jwksUri() != null && (problem = urlProblem(o.jwksUri())) != null) {
                errors.add(field + ".jwksUri: " + o.jwksUri() + " (expected: " + problem + ")");
            }
            if (o.audience().isBlank() || o.audience().length() > 256) {
                errors.add(field + ".audience: '" + o.audience()
                        + "' (expected: the aud value JWTs carry for this gateway, " + "1-256 characters; default "
                        + DEFAULT_AUDIENCE + ")");
            }
        }
        return errors;
    }

    /** Why {@code url} cannot be an issuer or key URL, or null when it can. */
    static String urlProblem(String url) {
        String expected = "an https:// URL without query or fragment (http:// only on loopback)";
        if (url == null) {
            return expected;
        }
        try {
            URI u = new URI(url);
            String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
            if (u.getHost() == null
                    || u.getRawQuery() != null
                    || u.getRawFragment() != null
                    || u.getRawUserInfo() != null) {
                return expected;
            }
            if (scheme.equals("https") || (scheme.equals("http") && loopback(u.getHost()))) {
                return null;
            }
            return expected;
        } catch (URISyntaxException e) {
            return expected;
        }
    }

    /** Loopback by its literal name or address only: no lookup, so DNS cannot turn a name into loopback. */
    private static boolean loopback(String host) {
        String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        if (h.equalsIgnoreCase("localhost")) {
            return true;
        }
        if (!h.matches("[0-9.]+|[0-9a-fA-F:]+")) {
            return false;
        }
        try {
            return InetAddress.getByName(h).isLoopbackAddress(); // a literal: parsed, not resolved
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }
}
