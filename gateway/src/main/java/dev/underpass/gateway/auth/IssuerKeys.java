package dev.underpass.gateway.auth;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.jwk.source.JWKSetUnavailableException;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jose.util.DefaultResourceRetriever;
import com.nimbusds.jose.util.JSONObjectUtils;
import com.nimbusds.jose.util.Resource;
import com.nimbusds.jose.util.ResourceRetriever;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.security.Key;
import java.text.ParseException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The signing keys of one trusted issuer, from its JWKS: fetched on first use (through OIDC
 * discovery when the operator named no {@code jwksUri}), cached, and fetched again when a JWT
 * names a key the cache lacks, so that the issuer can rotate its keys without a gateway restart.
 * Built on nimbus-jose-jwt's {@link JWKSourceBuilder}: every fetch is bounded in time and size
 * and follows no redirect, and unknown keys trigger at most {@link Settings#rateLimit two
 * fetches per interval}, so JWTs with made-up key ids cannot turn the gateway against the issuer.
 *
 * <p>Thread-safe; fetches block, so call it off the event loop.
 */
public final class IssuerKeys {
    /**
     * How keys are fetched and kept: connect and read timeouts and the largest document (JWKS and
     * discovery), how long a key set is used before it is fetched again, at most two fetches per
     * {@code rateLimit} for unknown keys (and discovery attempts), and how long cached keys keep
     * working while the issuer cannot be reached.
     */
    public record Settings(
            Duration connectTimeout,
            Duration readTimeout,
            int maxBytes,
            Duration cacheTtl,
            Duration rateLimit,
            Duration outageTolerance) {
        /** 2 s to connect, 3 s to read, 64 KiB; keys kept 5 min, fetched at most twice per 30 s; 1 h of outage tolerated. */
        public static final Settings DEFAULTS = new Settings(
                Duration.ofSeconds(2),
                Duration.ofSeconds(3),
                64 * 1024,
                Duration.ofMinutes(5),
                Duration.ofSeconds(30),
                Duration.ofHours(1));
    }

    private final OidcIssuer issuer;
    private final Set<JWSAlgorithm> algorithms;
    private final Settings settings;
    private final ResourceRetriever retriever;
    private JWSVerificationKeySelector<SecurityContext> selector;
    /** When discovery last failed (nanoTime) and why: it is not tried again within the rate limit. */
    private long discoveryFailedAt;

    private String discoveryFailure;

    IssuerKeys(OidcIssuer issuer, Set<JWSAlgorithm> algorithms, Settings settings) {
        this.issuer = issuer;
        this.algorithms = algorithms;
        this.settings = settings;
        this.retriever = new NoRedirects(
                (int) settings.connectTimeout().toMillis(),
                (int) settings.readTimeout().toMillis(),
                settings.maxBytes());
    }

    /**
     * Fetches without following redirects: an issuer (or whoever took over its host) must not
     * point the gateway at internal hosts; the operator configures the final URLs instead.
     */
    static final class NoRedirects extends DefaultResourceRetriever {
        NoRedirects(int connectTimeoutMillis, int readTimeoutMillis, int maxBytes) {
            super(connectTimeoutMillis, readTimeoutMillis, maxBytes);
        }

        @Override
        protected HttpURLConnection openHTTPConnection(URL url) throws IOException {
            HttpURLConnection c = super.openHTTPConnection(url);
            c.setInstanceFollowRedirects(false);
            return c;
        }

        @Override
        public Resource retrieveResource(URL url) throws IOException {
            try {
                return super.retrieveResource(url);
            } catch (IOException e) {
                if (e.getMessage() != null && e.getMessage().matches("HTTP 3\\d\\d\\b.*")) {
                    throw new IOException(
                            e.getMessage() + " (redirects are not followed: expected the document at " + url
                                    + " itself; configure the final URL)",
                            e);
                }
                throw e;
            }
        }
    }

    OidcIssuer issuer() {
        return issuer;
    }

    /**
     * The issuer's keys that may have signed a JWT with {@code header} (by key id, type and use).
     * Empty when the issuer has no such key, also after the fetch it triggered, or when fetches
     * for unknown keys are over their rate limit.
     *
     * @throws KeySourceException when the keys cannot be fetched (network, HTTP status, not a JWKS)
     */
    List<Key> keys(JWSHeader header) throws KeySourceException {
        try {
            return selector().selectJWSKeys(header, null);
        } catch (com.nimbusds.jose.jwk.source.RateLimitReachedException limited) {
            return List.of(); // the key set was fetched just now (twice): the key is not in it
        }
    }

    private synchronized JWSVerificationKeySelector<SecurityContext> selector() throws KeySourceException {
        if (selector == null) {
            URL jwks = issuer.jwksUri() != null ? url(issuer.jwksUri()) : discover();
            var source = JWKSourceBuilder.<SecurityContext>create(jwks, retriever)
                    .cache(
                            settings.cacheTtl().toMillis(),
                            settings.readTimeout()
                                    .plus(settings.connectTimeout())
                                    .toMillis())
                    .refreshAheadCache(false)
                    .rateLimited(settings.rateLimit().toMillis())
                    .retrying(false)
                    .outageTolerant(settings.outageTolerance().toMillis())
                    .build();
            selector = new JWSVerificationKeySelector<>(algorithms, source);
        }
        return selector;
    }

    /** The JWKS URL from the issuer's discovery document (OIDC Discovery 1.0 §3, §4.3). */
    private URL discover() throws KeySourceException {
        long now = System.nanoTime();
        if (discoveryFailure != null
                && now - discoveryFailedAt < settings.rateLimit().toNanos()) {
            throw new JWKSetUnavailableException(discoveryFailure + " (not retried for "
                    + settings.rateLimit().toSeconds() + " s)");
        }
        URI discovery = issuer.discoveryUri();
        try {
            Map<String, Object> doc = JSONObjectUtils.parse(
                    retriever.retrieveResource(discovery.toURL()).getContent());
            Object iss = doc.get("issuer");
            Object jwks = doc.get("jwks_uri");
            if (!issuer.issuer().equals(iss)) {
                throw new IOException(
                        "its discovery document names issuer " + iss + " (expected: " + issuer.issuer() + ")");
            }
            String problem = jwks instanceof String s ? OidcIssuer.urlProblem(s) : "a jwks_uri";
            if (problem != null) {
                throw new IOException("its discovery document has jwks_uri " + jwks + " (expected: " + problem + ")");
            }
            discoveryFailure = null;
            return url((String) jwks);
        } catch (IOException | ParseException | RuntimeException e) {
            discoveryFailedAt = now;
            discoveryFailure = "discovery at " + discovery + " failed: " + e.getMessage();
            throw new JWKSetUnavailableException(discoveryFailure, e);
        }
    }

    private static URL url(String text) throws KeySourceException {
        try {
            return URI.create(text).toURL();
        } catch (IOException | IllegalArgumentException e) {
            throw new JWKSetUnavailableException("JWKS URL " + text + ": " + e.getMessage(), e);
        }
    }
}
