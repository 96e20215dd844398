package dev.underpass.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.credential.AgentIdentities;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.testkit.OidcIssuerServer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gateway's check of agents' JWTs, against a real issuer (discovery and JWKS over HTTP on
 * loopback, keys generated here) and agent identities in a real store: a valid token is
 * accepted for the identity's account, and every kind of bad token is refused with its reason,
 * none of them throwing.
 */
class AgentJwtVerifierTest {
    static final String SUBJECT = "system:serviceaccount:ci:deployer";

    @TempDir
    java.nio.file.Path dir;

    OidcIssuerServer issuer;
    Store store;
    ControlPlane cp;
    Principal acme;
    AgentIdentities.View identity;
    AgentJwtVerifier verifier;

    @BeforeEach
    void start() throws Exception {
        issuer = new OidcIssuerServer();
        store = Store.open(StoreConfig.embedded(dir));
        cp = new ControlPlane(
                store,
                new ControlPlane.Settings(
                        ControlPlane.Settings.DEFAULT_DOMAIN,
                        "gw.test",
                        ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                        null),
                Clock.systemUTC(),
                name -> List.of(),
                new AuthFailures(),
                ControlPlane.DataPlane.NONE,
                new ControlPlane.Oidc(Set.of(issuer.issuer()), null));
        Principal operator = cp.apiKeys()
                .authenticate(cp.accounts().bootstrap().orElseThrow().ownerKey().key());
        acme = cp.apiKeys()
                .authenticate(cp.accounts()
                        .create(operator, new Accounts.CreateRequest("acme", null))
                        .ownerKey()
                        .key());
        identity = bind(SUBJECT, Map.of());
        // Discovery finds the JWKS (no jwksUri configured).
        verifier = new AgentJwtVerifier(
                new TrustedIssuers(List.of(new OidcIssuer(issuer.issuer(), null, null)), IssuerKeys.Settings.DEFAULTS),
                cp.agentIdentities()::binding,
                Clock.systemUTC());
    }

    @AfterEach
    void stop() {
        store.close();
        issuer.close();
    }

    private AgentIdentities.View bind(String subject, Map<String, String> claims) {
        return cp.agentIdentities()
                .create(acme, new AgentIdentities.CreateRequest("ci", issuer.issuer(), subject, claims));
    }

    private String token(Consumer<JWTClaimsSet.Builder> change) {
        return OidcIssuerServer.sign(issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, change), issuer.key());
    }

    private String refusal(String token, String identityId) {
        AgentCredentials.Check check = verifier.verify(token, identityId);
        assertThat(check.accepted()).as("accepted: %s", check).isFalse();
        assertThat(check.status()).isEqualTo(401);
        assertThat(check.reason())
                .startsWith("OIDC token of identity " + identityId)
                .doesNotContain(token);
        return check.reason();
    }

    @Test
    void aValidTokenIsAcceptedForTheIdentitysAccount() {
        AgentCredentials.Check check =
                verifier.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(check.accepted()).as("%s", check).isTrue();
        assertThat(check.identity().account()).isEqualTo("acme");
        assertThat(check.identity().tokenId()).isEqualTo(identity.id());
        assertThat(check.identity().tokenName()).isEqualTo("ci");
        assertThat(issuer.requests(OidcIssuerServer.DISCOVERY_PATH)).isEqualTo(1);
        assertThat(issuer.requests(OidcIssuerServer.JWKS_PATH)).isEqualTo(1);
        // Cached: more tokens fetch nothing more.
        for (int i = 0; i < 5; i++) {
            assertThat(verifier.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id())
                            .accepted())
                    .isTrue();
        }
        assertThat(issuer.requests(OidcIssuerServer.JWKS_PATH)).isEqualTo(1);
    }

    @Test
    void aWrongIssuerIsRefused() {
        String reason = refusal(token(b -> b.issuer("https://evil.example.com")), identity.id());
        assertThat(reason).contains("wrong issuer: iss 'https://evil.example.com' (expected: " + issuer.issuer() + ")");
    }

    @Test
    void aWrongAudienceIsRefused() {
        String reason = refusal(token(b -> b.audience(List.of("kubernetes", "other"))), identity.id());
        assertThat(reason).contains("wrong audience: aud [kubernetes, other] (expected to contain: underpass)");
        assertThat(refusal(token(b -> b.audience((String) null)), identity.id()))
                .contains("wrong audience: aud []");
    }

    @Test
    void aSignatureOfAnotherKeyWithTheSameKidIsRefused() {
        RSAKey impostor = OidcIssuerServer.newKey(issuer.key().getKeyID());
        String forged = OidcIssuerServer.sign(issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {}), impostor);
        assertThat(refusal(forged, identity.id()))
                .contains("bad signature: no key of the issuer with kid 'key-1' verifies it");
    }

    @Test
    void anUnknownKeyTriggersABoundedRefetchAndARotatedKeyIsAcceptedWithoutRestart() {
        assertThat(verifier.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id())
                        .accepted())
                .isTrue();
        assertThat(issuer.requests(OidcIssuerServer.JWKS_PATH)).isEqualTo(1);

        // The issuer rotates: the new key is served, and a token signed with it is accepted after one refetch.
        issuer.rotate();
        AgentCredentials.Check rotated =
                verifier.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(rotated.accepted()).as("%s", rotated).isTrue();
        assertThat(issuer.requests(OidcIssuerServer.JWKS_PATH)).isEqualTo(2);

        // Tokens naming keys the issuer never had are refused; they cannot make the gateway hammer the issuer.
        for (int i = 0; i < 20; i++) {
            String made = OidcIssuerServer.sign(
                    issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {}),
                    OidcIssuerServer.newKey("made-up-" + i));
            assertThat(refusal(made, identity.id()))
                    .contains("unknown key: the issuer's JWKS has no RS256 key with kid 'made-up-" + i + "'");
        }
        assertThat(issuer.requests(OidcIssuerServer.JWKS_PATH))
                .as("JWKS fetches")
                .isLessThanOrEqualTo(3);
        assertThat(issuer.requests(OidcIssuerServer.DISCOVERY_PATH))
                .as("discovery fetches")
                .isEqualTo(1);
    }

    @Test
    void anExpiredTokenIsRefusedBeyondTheClockSkew() {
        Instant past = Instant.now().minus(Duration.ofMinutes(5));
        String reason = refusal(
                token(b -> b.issueTime(Date.from(past.minus(Duration.ofMinutes(10))))
                        .notBeforeTime(null)
                        .expirationTime(Date.from(past))),
                identity.id());
        assertThat(reason).contains("expired at " + past.truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
        // Within the 60 s of skew, a token that just expired still counts.
        AgentCredentials.Check justNow = verifier.verify(
                token(b -> b.expirationTime(Date.from(Instant.now().minusSeconds(20)))), identity.id());
        assertThat(justNow.accepted()).as("%s", justNow).isTrue();
        assertThat(refusal(token(b -> b.expirationTime(null)), identity.id()))
                .contains("no expiry: the token has no exp");
    }

    @Test
    void aTokenNotYetValidIsRefused() {
        Date future = Date.from(Instant.now().plus(Duration.ofMinutes(5)));
        assertThat(refusal(token(b -> b.notBeforeTime(future)), identity.id())).contains("not yet valid: nbf");
        assertThat(refusal(token(b -> b.issueTime(future)), identity.id()))
                .contains("not yet valid: issued in the future");
    }

    @Test
    void anUnsignedTokenIsRefused() {
        String none = new PlainJWT(issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {})).serialize();
        assertThat(none).endsWith(".");
        assertThat(refusal(none, identity.id())).contains("unsigned token: alg none");
        // Also when someone writes the header by hand, with a signature part.
        String header = Base64URL.encode("{\"alg\":\"none\",\"kid\":\"key-1\"}".getBytes(StandardCharsets.UTF_8))
                .toString();
        String handMade = header + "." + none.split("\\.")[1] + ".c2ln";
        String reason = refusal(handMade, identity.id());
        assertThat(reason).containsAnyOf("unsigned token: alg none", "malformed token");
    }

    @Test
    void anHmacTokenKeyedWithThePublicKeyIsRefused() throws Exception {
        // The classic confusion attack: HS256 with the issuer's public key as the shared secret.
        byte[] secret = issuer.key().toPublicJWK().toRSAPublicKey().getEncoded();
        SignedJWT hs = new SignedJWT(
                new JWSHeader.Builder(JWSAlgorithm.HS256)
                        .keyID(issuer.key().getKeyID())
                        .type(JOSEObjectType.JWT)
                        .build(),
                issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {}));
        hs.sign(new MACSigner(secret));
        assertThat(refusal(hs.serialize(), identity.id()))
                .contains("unsupported algorithm HS256 (expected: RS256/384/512");
    }

    @Test
    void malformedTextIsRefused() {
        for (String text :
                List.of("not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", "....", "eyJ" + "x".repeat(20_000))) {
            assertThat(refusal(text, identity.id())).contains("malformed token");
        }
    }

    @Test
    void aSubjectOrClaimMismatchIsRefusedAndAPrefixSubjectMatches() {
        assertThat(refusal(issuer.token("system:serviceaccount:ci:other", OidcIssuer.DEFAULT_AUDIENCE), identity.id()))
                .contains("subject mismatch: sub 'system:serviceaccount:ci:other' is not the identity's subject");

        AgentIdentities.View prefix = bind("system:serviceaccount:ci:*", Map.of());
        assertThat(verifier.verify(
                                issuer.token("system:serviceaccount:ci:other", OidcIssuer.DEFAULT_AUDIENCE),
                                prefix.id())
                        .accepted())
                .isTrue();
        assertThat(refusal(issuer.token("system:serviceaccount:prod:x", OidcIssuer.DEFAULT_AUDIENCE), prefix.id()))
                .contains("subject mismatch");

        AgentIdentities.View github = bind("repo:acme/app:*", Map.of("repository_owner", "acme"));
        String ours = OidcIssuerServer.sign(
                issuer.claims(
                        "repo:acme/app:ref:refs/heads/main",
                        OidcIssuer.DEFAULT_AUDIENCE,
                        b -> b.claim("repository_owner", "acme")),
                issuer.key());
        assertThat(verifier.verify(ours, github.id()).accepted()).isTrue();
        String theirs = OidcIssuerServer.sign(
                issuer.claims(
                        "repo:acme/app:ref:refs/heads/main",
                        OidcIssuer.DEFAULT_AUDIENCE,
                        b -> b.claim("repository_owner", "evil")),
                issuer.key());
        assertThat(refusal(theirs, github.id()))
                .contains("claim mismatch: repository_owner is 'evil', not the identity's value");
        String without = OidcIssuerServer.sign(
                issuer.claims("repo:acme/app:ref:refs/heads/main", OidcIssuer.DEFAULT_AUDIENCE, b -> {}), issuer.key());
        assertThat(refusal(without, github.id())).contains("claim mismatch: repository_owner is missing");
    }

    @Test
    void onlyRefusalsOfTokensWhoseSignatureVerifiedAreAuthentic() {
        // What AgentAuthenticator counts against the identity: a workload of its issuer got something wrong.
        Instant past = Instant.now().minus(Duration.ofMinutes(5));
        for (String authentic : List.of(
                issuer.token("system:serviceaccount:ci:other", OidcIssuer.DEFAULT_AUDIENCE),
                issuer.token(SUBJECT, "kubernetes"),
                token(b -> b.expirationTime(Date.from(past))))) {
            AgentJwtVerifier.Result r = verifier.check(authentic, identity.id());
            assertThat(r.check().status()).as("%s", r).isEqualTo(401);
            assertThat(r.authentic()).as("%s", r.check().reason()).isTrue();
        }
        String forged = OidcIssuerServer.sign(
                issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {}),
                OidcIssuerServer.newKey(issuer.key().getKeyID()));
        String unknownKey = OidcIssuerServer.sign(
                issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {}), OidcIssuerServer.newKey("made-up"));
        for (String bogus : List.of(
                "not-a-jwt",
                forged,
                unknownKey,
                token(b -> b.issuer("https://evil.example.com")),
                new PlainJWT(issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {})).serialize())) {
            AgentJwtVerifier.Result r = verifier.check(bogus, identity.id());
            assertThat(r.check().status()).as("%s", r).isEqualTo(401);
            assertThat(r.authentic()).as("%s", r.check().reason()).isFalse();
        }
        assertThat(verifier.check(forged, "wid-0000000000000000").authentic())
                .as("unknown identity")
                .isFalse();
    }

    @Test
    void aDeletedOrUnknownIdentityIsRefused() {
        String token = issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE);
        assertThat(verifier.verify(token, identity.id()).accepted()).isTrue();
        cp.agentIdentities().delete(acme, identity.id());
        assertThat(refusal(token, identity.id())).contains("unknown identity: no agent identity " + identity.id());
        assertThat(refusal(token, "wid-0000000000000000")).contains("unknown identity");
    }

    @Test
    void aRedirectIsNotFollowed() throws Exception {
        // A loopback server that answers every request with a 302 to the issuer's real JWKS.
        com.sun.net.httpserver.HttpServer redirector = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 4);
        java.util.concurrent.atomic.AtomicInteger redirected = new java.util.concurrent.atomic.AtomicInteger();
        redirector.createContext("/", exchange -> {
            redirected.incrementAndGet();
            exchange.getResponseHeaders().add("location", issuer.jwksUri());
            exchange.sendResponseHeaders(302, -1);
            exchange.close();
        });
        redirector.start();
        try {
            String jwksUri = "http://127.0.0.1:" + redirector.getAddress().getPort() + "/jwks";
            AgentJwtVerifier redirected302 = new AgentJwtVerifier(
                    new TrustedIssuers(
                            List.of(new OidcIssuer(issuer.issuer(), jwksUri, null)), IssuerKeys.Settings.DEFAULTS),
                    cp.agentIdentities()::binding,
                    Clock.systemUTC());
            AgentCredentials.Check check =
                    redirected302.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
            assertThat(check.status()).as("%s", check).isEqualTo(503);
            assertThat(check.reason()).contains("HTTP 302").contains("redirects are not followed");
            assertThat(redirected.get()).as("the redirect was asked").isPositive();
            assertThat(issuer.requests(OidcIssuerServer.JWKS_PATH))
                    .as("its target was never fetched")
                    .isZero();
        } finally {
            redirector.stop(0);
        }
    }

    @Test
    void anUnreachableIssuerIsA503AndTheCheckIsRetriedLater() {
        issuer.down(true);
        AgentCredentials.Check check =
                verifier.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(check.accepted()).isFalse();
        assertThat(check.status()).isEqualTo(503);
        assertThat(check.reason())
                .contains("cannot be checked now")
                .contains("discovery at " + issuer.issuer())
                .endsWith("; retry");
        // With the JWKS configured (no discovery), the same.
        AgentJwtVerifier direct = new AgentJwtVerifier(
                new TrustedIssuers(
                        List.of(new OidcIssuer(issuer.issuer(), issuer.jwksUri(), null)), IssuerKeys.Settings.DEFAULTS),
                cp.agentIdentities()::binding,
                Clock.systemUTC());
        AgentCredentials.Check jwks = direct.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(jwks.status()).as("%s", jwks).isEqualTo(503);
        assertThat(jwks.reason()).contains("JWKS is unreachable");
        issuer.down(false);
        assertThat(direct.verify(issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id())
                        .accepted())
                .isTrue();
    }
}
