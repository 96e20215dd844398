package dev.underpass.controlplane.api;

import static dev.underpass.controlplane.core.Scope.ACCOUNTS_READ;
import static dev.underpass.controlplane.core.Scope.ACCOUNTS_WRITE;
import static dev.underpass.controlplane.core.Scope.AGENT_IDENTITIES_READ;
import static dev.underpass.controlplane.core.Scope.AGENT_IDENTITIES_WRITE;
import static dev.underpass.controlplane.core.Scope.AGENT_TOKENS_READ;
import static dev.underpass.controlplane.core.Scope.AGENT_TOKENS_WRITE;
import static dev.underpass.controlplane.core.Scope.AUDIT_READ;
import static dev.underpass.controlplane.core.Scope.CONNECTIONS_DECIDE;
import static dev.underpass.controlplane.core.Scope.ENDPOINTS_READ;
import static dev.underpass.controlplane.core.Scope.ENDPOINTS_WRITE;
import static dev.underpass.controlplane.core.Scope.KEYS_READ;
import static dev.underpass.controlplane.core.Scope.KEYS_WRITE;
import static dev.underpass.controlplane.core.Scope.SERVICES_READ;
import static dev.underpass.controlplane.core.Scope.SERVICES_WRITE;
import static dev.underpass.controlplane.core.Scope.USERS_READ;
import static dev.underpass.controlplane.core.Scope.USERS_WRITE;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.GatewayInfo;
import dev.underpass.controlplane.JsonDiff;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.protocol.HostAndPort;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tenants and roles through the real HTTPS API, route by route: another account's key finds
 * none of acme's objects and learns nothing about them beyond what acme offers it; acme's viewer
 * and member, and keys narrowed to a few scopes, are refused every route beyond their scopes;
 * revoked, expired, rotated-out keys and keys of deleted users are refused on their next request;
 * and none of these attempts changes anything of acme's. The matrix comes from {@link #cases()},
 * which must name every route the server has.
 */
class TenantIsolationApiTest {
    @TempDir
    static Path dir;

    static ApiFixture api;

    static String operator;
    /** Keys of acme: its owner, a viewer, a member. */
    static String owner;

    static String viewer;
    static String member;
    /** The key of globex's owner: the other tenant. */
    static String outsider;

    static String aliceKeyId;
    static String agentTokenId;
    /** acme's agent identity (OIDC workload identity binding), of the issuer the test gateway trusts. */
    static String agentIdentityId;

    static final String ISSUER = "https://issuer.example.com";
    /** acme's pending agent enrollment, and the certificate another of its enrollments gave. */
    static String enrollmentId;

    static String certificateId;
    /** acme's own endpoint to its private service a-git. */
    static String acmeEndpoint;
    /** globex's endpoint to a-shared, the service acme offers globex. */
    static String globexEndpoint;
    /** What no response to globex may contain, unless globex itself sent it. */
    static final List<String> ACME_SECRETS = new ArrayList<>();

    @BeforeAll
    static void setUp() throws Exception {
        api = ApiFixture.start(dir, new ControlPlane.Oidc(Set.of(ISSUER), null));
        api.cp.cp.gatewayInfo(GatewayInfo.of(new HostAndPort("gw.test", 3128), ControlPlane.Settings.DEFAULT_DOMAIN));
        operator = api.cp.operatorKey;
        JsonNode acme = api.ok(operator, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201);
        owner = acme.at("/ownerKey/key").asText();
        outsider = api.ok(operator, "POST", "/v1/accounts", "{\"name\":\"globex\",\"owner\":\"gina\"}", 201)
                .at("/ownerKey/key")
                .asText();

        api.ok(owner, "POST", "/v1/users", "{\"name\":\"alice\",\"role\":\"admin\"}", 201);
        api.ok(owner, "POST", "/v1/users", "{\"name\":\"vera\",\"role\":\"viewer\"}", 201);
        api.ok(owner, "POST", "/v1/users", "{\"name\":\"mike\",\"role\":\"member\"}", 201);
        viewer = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"vera-key\",\"user\":\"vera\"}", 201)
                .get("key")
                .asText();
        member = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"mike-key\",\"user\":\"mike\"}", 201)
                .get("key")
                .asText();
        JsonNode alice = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"alice-ci\",\"user\":\"alice\"}", 201);
        aliceKeyId = alice.at("/apiKey/id").asText();
        JsonNode token = api.ok(owner, "POST", "/v1/agent-tokens", "{\"name\":\"edge-acme\"}", 201);
        agentTokenId = token.at("/agentToken/id").asText();
        agentIdentityId = api.ok(
                        owner,
                        "POST",
                        "/v1/agent-identities",
                        "{\"name\":\"edge-oidc\",\"issuer\":\"" + ISSUER
                                + "\",\"subject\":\"system:serviceaccount:acme-ns:edge\",\"claims\":{\"cluster\":\"acme-prod\"}}",
                        201)
                .get("id")
                .asText();
        JsonNode enrollment = api.ok(owner, "POST", "/v1/agent-enrollments", "{\"name\":\"edge-enrolled\"}", 201);
        enrollmentId = enrollment.at("/enrollment/id").asText();
        JsonNode used = api.ok(owner, "POST", "/v1/agent-enrollments", "{\"name\":\"edge-mtls\"}", 201);
        // The gateway signs certificates (its agent CA is not part of this fixture); the record is what the API shows.
        String fingerprint = dev.underpass.controlplane.core.Secrets.sha256Hex("acme-certificate");
        api.cp.cp.agentEnrollments().enroll(used.get("token").asText(), null, (id, account, name) -> {
            certificateId = id;
            return new dev.underpass.controlplane.credential.AgentEnrollments.Issued(
                    "0a1b2c",
                    fingerprint,
                    java.time.Instant.now().plus(Duration.ofDays(90)),
                    "-----BEGIN CERTIFICATE-----");
        });
        JsonNode git = api.ok(owner, "POST", "/v1/services", """
                {"name": "a-git", "description": "acme's source", "privateDnsName": "git.acme.example.com",
                 "listeners": [{"port": 443, "targets": ["git.acme.internal:443"]}]}""", 201);
        api.ok(owner, "POST", "/v1/services", """
                {"name": "a-shared", "allowedPrincipals": ["globex"],
                 "listeners": [{"port": 22, "targets": ["shared.acme.internal:22"]}]}""", 201);
        acmeEndpoint = api.ok(owner, "POST", "/v1/endpoints", "{\"service\":\"acme/a-git\"}", 201)
                .get("id")
                .asText();

        api.ok(outsider, "POST", "/v1/services", """
                {"name": "b-own", "listeners": [{"port": 80, "targets": ["b.globex.internal:80"]}]}""", 201);
        globexEndpoint = api.ok(outsider, "POST", "/v1/endpoints", "{\"service\":\"acme/a-shared\"}", 201)
                .get("id")
                .asText();

        String ownerKeyId = api.get(owner, "/v1/whoami").get("apiKeyId").asText();
        ACME_SECRETS.addAll(List.of(
                "git.acme.internal",
                "shared.acme.internal",
                "a-git",
                "acme's source",
                "alice",
                "vera",
                "mike",
                "edge-acme",
                "git.acme.example.com",
                git.at("/privateDns/verificationValue").asText(),
                owner,
                viewer,
                member,
                alice.get("key").asText(),
                token.get("token").asText(),
                ownerKeyId,
                aliceKeyId,
                agentTokenId,
                agentIdentityId,
                "edge-oidc",
                "system:serviceaccount:acme-ns:edge",
                "acme-prod",
                acmeEndpoint,
                enrollmentId,
                certificateId,
                enrollment.get("token").asText(),
                used.get("token").asText(),
                "edge-enrolled",
                "edge-mtls",
                fingerprint,
                api.get(viewer, "/v1/whoami").get("apiKeyId").asText()));
    }

    @AfterAll
    static void tearDown() {
        if (api != null) {
            api.close();
        }
    }

    /** One route, called on acme's objects; {@code outsider} is the status globex's owner gets. */
    record Case(String method, String template, String path, String body, Scope scope, int outsider) {
        String route() {
            return method + " " + template;
        }

        boolean mutating() {
            return !method.equals("GET");
        }
    }

    static Case c(String route, Scope scope, int outsider, String path, String body) {
        String[] mt = route.split(" ", 2);
        return new Case(mt[0], mt[1], path == null ? mt[1] : path, body, scope, outsider);
    }

    static Case c(String route, Scope scope, int outsider) {
        return c(route, scope, outsider, null, null);
    }

    /** Every route of the API, each aimed at an object of acme where it names one. */
    static List<Case> cases() {
        String user = "/v1/users/alice";
        String key = "/v1/api-keys/" + aliceKeyId;
        String token = "/v1/agent-tokens/" + agentTokenId;
        String identity = "/v1/agent-identities/" + agentIdentityId;
        String enrollment = "/v1/agent-enrollments/" + enrollmentId;
        String certificate = "/v1/agent-certificates/" + certificateId;
        String service = "/v1/services/a-git";
        String endpoint = "/v1/endpoints/" + acmeEndpoint;
        return List.of(
                c("GET /v1/openapi.yaml", null, 200),
                c("GET /v1/whoami", null, 200),
                c("GET /v1/gateway", null, 200),
                c("GET /v1/nodes", ACCOUNTS_READ, 403),
                c("GET /v1/accounts", ACCOUNTS_READ, 403),
                c("POST /v1/accounts", ACCOUNTS_WRITE, 403, null, "{\"name\":\"evil\"}"),
                c("GET /v1/users", USERS_READ, 200),
                c("POST /v1/users", USERS_WRITE, 201, null, "{\"name\":\"mallory\",\"role\":\"viewer\"}"),
                c("PATCH /v1/users/{name}", USERS_WRITE, 404, user, "{\"role\":\"viewer\"}"),
                c("DELETE /v1/users/{name}", USERS_WRITE, 404, user, null),
                c("GET /v1/api-keys", KEYS_READ, 200),
                c("POST /v1/api-keys", KEYS_WRITE, 404, null, "{\"name\":\"stolen\",\"user\":\"alice\"}"),
                c("POST /v1/api-keys/{id}/rotate", KEYS_WRITE, 404, key + "/rotate", null),
                c("DELETE /v1/api-keys/{id}", KEYS_WRITE, 404, key, null),
                c("GET /v1/agent-tokens", AGENT_TOKENS_READ, 200),
                c("POST /v1/agent-tokens", AGENT_TOKENS_WRITE, 201, null, "{\"name\":\"b-edge\"}"),
                c(
                        "POST /v1/agent-tokens/{id}/rotate",
                        AGENT_TOKENS_WRITE,
                        404,
                        token + "/rotate",
                        "{\"gracePeriodSeconds\":0}"),
                c("DELETE /v1/agent-tokens/{id}", AGENT_TOKENS_WRITE, 404, token, null),
                c("GET /v1/agent-identities", AGENT_IDENTITIES_READ, 200),
                c(
                        "POST /v1/agent-identities",
                        AGENT_IDENTITIES_WRITE,
                        201,
                        null,
                        "{\"name\":\"b-oidc\",\"issuer\":\"" + ISSUER
                                + "\",\"subject\":\"system:serviceaccount:globex:edge\"}"),
                c("DELETE /v1/agent-identities/{id}", AGENT_IDENTITIES_WRITE, 404, identity, null),
                c("GET /v1/agent-enrollments", AGENT_TOKENS_READ, 200),
                c("POST /v1/agent-enrollments", AGENT_TOKENS_WRITE, 201, null, "{\"name\":\"b-enrolled\"}"),
                c("DELETE /v1/agent-enrollments/{id}", AGENT_TOKENS_WRITE, 404, enrollment, null),
                c("GET /v1/agent-certificates", AGENT_TOKENS_READ, 200),
                c("DELETE /v1/agent-certificates/{id}", AGENT_TOKENS_WRITE, 404, certificate, null),
                c("GET /v1/services", SERVICES_READ, 200),
                c(
                        "POST /v1/services",
                        SERVICES_WRITE,
                        201,
                        null,
                        "{\"name\":\"b-new\",\"listeners\":[{\"port\":8080,\"targets\":[\"new.globex.internal:8080\"]}]}"),
                c("GET /v1/services/{name}", SERVICES_READ, 404, service, null),
                c(
                        "PATCH /v1/services/{name}",
                        SERVICES_WRITE,
                        404,
                        service,
                        "{\"description\":\"taken over\",\"allowedPrincipals\":[\"*\"]}"),
                c("DELETE /v1/services/{name}", SERVICES_WRITE, 404, service, null),
                c(
                        "POST /v1/services/{name}/verify-private-dns",
                        SERVICES_WRITE,
                        404,
                        service + "/verify-private-dns",
                        null),
                c("GET /v1/services/{name}/health", SERVICES_READ, 404, service + "/health", null),
                c("GET /v1/service-offers", SERVICES_READ, 200),
                c("GET /v1/endpoints", ENDPOINTS_READ, 200),
                c("POST /v1/endpoints", ENDPOINTS_WRITE, 403, null, "{\"service\":\"acme/a-git\"}"),
                c("GET /v1/endpoints/{id}", ENDPOINTS_READ, 404, endpoint, null),
                c("GET /v1/endpoints/{id}/diagnosis", ENDPOINTS_READ, 404, endpoint + "/diagnosis", null),
                c("GET /v1/endpoints/{id}/agent-listeners", ENDPOINTS_READ, 404, endpoint + "/agent-listeners", null),
                c(
                        "POST /v1/endpoints/{id}/accept",
                        CONNECTIONS_DECIDE,
                        404,
                        endpoint + "/accept",
                        "{\"reason\":\"mine now\"}"),
                c("POST /v1/endpoints/{id}/reject", CONNECTIONS_DECIDE, 404, endpoint + "/reject", null),
                c("DELETE /v1/endpoints/{id}", ENDPOINTS_WRITE, 404, endpoint, null),
                // Its own chain, but not acme's: only the operator account may name another account.
                c("GET /v1/audit-events", AUDIT_READ, 403, "/v1/audit-events?account=acme", null),
                c("GET /v1/audit-events/verify", AUDIT_READ, 200));
    }

    @Test
    void everyRouteOfTheServerHasACase() {
        Set<String> served = Routes.of(api.cp.cp).routes().stream()
                .map(r -> r.method() + " " + r.template())
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> covered = cases().stream().map(Case::route).collect(Collectors.toCollection(TreeSet::new));
        assertThat(covered).as("routes with a case").hasSize(cases().size()).isEqualTo(served);
    }

    @Test
    void anotherAccountFindsNoneOfAcmesObjectsAndChangesNothing() {
        JsonNode before = acmeSnapshot(outsider);
        for (Case c : cases()) {
            ApiFixture.Response r = api.call(outsider, c.method(), c.path(), c.body());
            assertThat(r.status()).as("%s for globex: %s", c.route(), r.text()).isEqualTo(c.outsider());
            if (r.status() >= 400) {
                r.problem(c.outsider());
            }
            assertNoAcmeSecrets(c.method() + " " + c.path() + " " + c.body(), r.text());
        }
        assertThat(JsonDiff.of(before, acmeSnapshot(outsider)))
                .as("acme changed")
                .isEmpty();
    }

    @Test
    void anotherAccountCannotTellAcmesObjectsFromMissingOnes() {
        for (Case c : cases()) {
            if (c.outsider() != 404 && !c.route().equals("POST /v1/endpoints")) {
                continue;
            }
            String real = c.path() + " " + c.body();
            String object =
                    ACME_SECRETS.stream().filter(real::contains).findFirst().orElseThrow();
            String fake = object.matches(".*-[0-9a-f]{16}")
                    ? object.substring(0, object.length() - 16) + "0".repeat(16)
                    : "nobody";
            String bodyOfFake = c.body() == null ? null : c.body().replace(object, fake);
            String detail = api.call(outsider, c.method(), c.path(), c.body()).problem(c.outsider());
            String detailOfFake = api.call(outsider, c.method(), c.path().replace(object, fake), bodyOfFake)
                    .problem(c.outsider());
            assertThat(detail.replace(object, "X")).as(c.route()).isEqualTo(detailOfFake.replace(fake, "X"));
        }
    }

    @Test
    void anotherAccountSeesOnlyWhatAcmeOffersIt() {
        JsonNode offers = api.get(outsider, "/v1/service-offers").get("items");
        assertThat(offers).hasSize(1);
        assertThat(offers.get(0).toString())
                .isEqualTo(
                        "{\"reference\":\"acme/a-shared\",\"description\":\"\",\"ports\":[22],\"acceptanceRequired\":true}");
        assertThat(api.get(outsider, "/v1/endpoints").get("items").findValuesAsText("id"))
                .containsExactly(globexEndpoint);
        assertThat(api.get(outsider, "/v1/endpoints?side=provider").get("items"))
                .isEmpty();
        assertThat(api.get(outsider, "/v1/endpoints?service=acme/a-git").get("items"))
                .isEmpty();
        assertThat(api.get(outsider, "/v1/endpoints?side=provider&service=acme/a-shared")
                        .get("items"))
                .isEmpty();
        assertThat(api.get(outsider, "/v1/endpoints/" + globexEndpoint)
                        .get("service")
                        .asText())
                .isEqualTo("acme/a-shared");
        api.call(outsider, "GET", "/v1/services/a-shared").problem(404);
        // The consumer cannot decide its own request; the provider sees it and can.
        api.call(outsider, "POST", "/v1/endpoints/" + globexEndpoint + "/accept")
                .problem(403);
        assertThat(api.get(owner, "/v1/endpoints?side=provider").get("items").findValuesAsText("id"))
                .containsExactlyInAnyOrder(acmeEndpoint, globexEndpoint);
        // Other accounts are the operator's business only.
        assertThat(api.get(operator, "/v1/accounts").get("items").findValuesAsText("name"))
                .containsExactly("operator", "acme", "globex");
    }

    @Test
    void aViewerCanReadButNotChangeAnything() {
        Set<Scope> scopes = Role.VIEWER.scopes(false);
        List<String> tried = refusedBeyond(viewer, scopes);
        List<String> mutating =
                cases().stream().filter(Case::mutating).map(Case::route).toList();
        assertThat(tried)
                .as("a viewer was refused every route that changes something")
                .containsAll(mutating);
    }

    @Test
    void aMemberIsRefusedWhatItsRoleDoesNotGrant() {
        refusedBeyond(member, Role.MEMBER.scopes(false));
    }

    @Test
    void keysWithNarrowedScopesCannotGoBeyondThem() {
        for (List<Scope> narrowed : List.of(List.of(SERVICES_READ), List.of(ENDPOINTS_READ, KEYS_READ))) {
            String body = "{\"name\":\"narrow-" + narrowed.size() + "\",\"scopes\":"
                    + narrowed.stream().map(s -> "\"" + s + "\"").collect(Collectors.joining(",", "[", "]")) + "}";
            String key =
                    api.ok(owner, "POST", "/v1/api-keys", body, 201).get("key").asText();
            assertThat(api.get(key, "/v1/whoami").get("scopes").toString())
                    .isEqualTo(narrowed.stream().map(s -> "\"" + s + "\"").collect(Collectors.joining(",", "[", "]")));
            refusedBeyond(key, EnumSet.copyOf(narrowed));
        }
        // A narrowed key that may write keys cannot mint a wider one, and by default mints one as narrow as itself.
        String keysOnly = api.ok(
                        owner,
                        "POST",
                        "/v1/api-keys",
                        "{\"name\":\"keys-only\",\"scopes\":[\"keys:read\",\"keys:write\"]}",
                        201)
                .get("key")
                .asText();
        String detail = api.call(
                        keysOnly, "POST", "/v1/api-keys", "{\"name\":\"wider\",\"scopes\":[\"services:write\"]}")
                .problem(403);
        assertThat(detail).contains("services:write");
        api.call(keysOnly, "POST", "/v1/api-keys", "{\"name\":\"for-alice\",\"user\":\"alice\"}")
                .problem(403);
        String minted = api.ok(keysOnly, "POST", "/v1/api-keys", "{\"name\":\"same\"}", 201)
                .get("key")
                .asText();
        assertThat(api.get(minted, "/v1/whoami").get("scopes").toString()).isEqualTo("[\"keys:read\",\"keys:write\"]");
        // Nor can it rotate a broader key of its own user, which would hand it a full key.
        JsonNode broad = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"broad\"}", 201);
        api.call(
                        keysOnly,
                        "POST",
                        "/v1/api-keys/" + broad.at("/apiKey/id").asText() + "/rotate",
                        "{\"gracePeriodSeconds\":0}")
                .problem(403);
        api.get(broad.get("key").asText(), "/v1/whoami");
    }

    @Test
    void secretsAreShownOnlyWhenCreated() {
        String everything = acmeSnapshot(owner).toString() + api.get(outsider, "/v1/endpoints/" + globexEndpoint);
        for (String secret : ACME_SECRETS) {
            if (secret.startsWith("upk_") || secret.startsWith("upa_") || secret.startsWith("upe_")) {
                assertThat(everything).doesNotContain(secret);
            }
        }
    }

    /**
     * Calls every route with {@code key}, which holds {@code scopes}: a route needing another scope
     * must be refused with 403, a read it may do must succeed; routes it may change are not called.
     * Nothing of acme's changes. Returns the routes that were refused.
     */
    static List<String> refusedBeyond(String key, Set<Scope> scopes) {
        JsonNode before = acmeSnapshot(key);
        List<String> refused = new ArrayList<>();
        for (Case c : cases()) {
            boolean allowed = c.scope() == null || scopes.contains(c.scope());
            if (allowed && c.mutating()) {
                continue;
            }
            ApiFixture.Response r = api.call(key, c.method(), c.path(), c.body());
            if (allowed) {
                assertThat(r.status())
                        .as("%s with %s: %s", c.route(), scopes, r.text())
                        .isEqualTo(200);
            } else {
                assertThat(r.status())
                        .as("%s with %s: %s", c.route(), scopes, r.text())
                        .isEqualTo(403);
                assertThat(r.problem(403)).contains(c.scope().text());
                refused.add(c.route());
            }
        }
        assertThat(JsonDiff.of(before, acmeSnapshot(key))).as("acme changed").isEmpty();
        return refused;
    }

    @Test
    void aRevokedKeyIsRefusedOnItsNextRequest() {
        JsonNode created = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"soon-revoked\",\"user\":\"alice\"}", 201);
        String key = created.get("key").asText();
        api.get(key, "/v1/services");
        JsonNode revoked = api.ok(
                owner, "DELETE", "/v1/api-keys/" + created.at("/apiKey/id").asText(), null, 200);
        assertThat(revoked.get("status").asText()).isEqualTo("revoked");
        ApiFixture.Response r = api.call(key, "GET", "/v1/services");
        r.problem(401);
        assertThat(r.headers().firstValue("www-authenticate")).hasValue("Bearer realm=\"underpass\"");
        api.call(key, "POST", "/v1/api-keys", "{\"name\":\"again\"}").problem(401);
    }

    @Test
    void anExpiredKeyIsRefusedTheMomentItExpires() {
        String expiresAt = api.cp.clock.instant().plus(Duration.ofMinutes(10)).toString();
        String key = api.ok(
                        owner,
                        "POST",
                        "/v1/api-keys",
                        "{\"name\":\"short-lived\",\"expiresAt\":\"" + expiresAt + "\"}",
                        201)
                .get("key")
                .asText();
        api.get(key, "/v1/whoami");
        api.cp.clock.advance(Duration.ofMinutes(10).minusSeconds(1));
        api.get(key, "/v1/whoami");
        api.cp.clock.advance(Duration.ofSeconds(1));
        assertThat(api.call(key, "GET", "/v1/whoami").problem(401)).contains("expired at " + expiresAt);
        JsonNode listed = api.get(owner, "/v1/api-keys?limit=500").get("items");
        assertThat(listed.findValues("name").stream().map(JsonNode::asText).toList())
                .contains("short-lived");
        for (JsonNode k : listed) {
            if (k.get("name").asText().equals("short-lived")) {
                assertThat(k.get("status").asText()).isEqualTo("expired");
            }
        }
    }

    @Test
    void aRotatedKeyWorksThroughItsGracePeriodThenNot() {
        JsonNode created = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"rotating\"}", 201);
        String old = created.get("key").asText();
        String fresh = api.ok(
                        old,
                        "POST",
                        "/v1/api-keys/" + created.at("/apiKey/id").asText() + "/rotate",
                        "{\"gracePeriodSeconds\":60}",
                        201)
                .get("key")
                .asText();
        api.get(old, "/v1/whoami");
        api.get(fresh, "/v1/whoami");
        api.cp.clock.advance(Duration.ofSeconds(60));
        api.call(old, "GET", "/v1/whoami").problem(401);
        api.get(fresh, "/v1/whoami");
    }

    @Test
    void keysOfADeletedUserStopWorking() {
        api.ok(owner, "POST", "/v1/users", "{\"name\":\"leaver\",\"role\":\"member\"}", 201);
        String key = api.ok(owner, "POST", "/v1/api-keys", "{\"name\":\"leaver-key\",\"user\":\"leaver\"}", 201)
                .get("key")
                .asText();
        api.get(key, "/v1/whoami");
        api.ok(owner, "DELETE", "/v1/users/leaver", null, 204);
        api.call(key, "GET", "/v1/whoami").problem(401);
    }

    @Test
    void noKeyOrAnUnknownOneIsA401() {
        assertThat(api.call(null, "GET", "/v1/services").problem(401)).contains("Bearer");
        api.call("upk_not-a-real-key", "GET", "/v1/services").problem(401);
        ApiFixture.Response basic =
                api.send(null, "GET", "/v1/services", null, java.util.Map.of("authorization", "Basic dXNlcjpwYXNz"));
        assertThat(basic.problem(401)).contains("Bearer");
        assertThat(api.call(null, "GET", "/v1/openapi.yaml").status()).isEqualTo(200);
    }

    /** acme as its owner reads it, and the accounts as the operator reads them. */
    static JsonNode acmeSnapshot(String warm) {
        for (String key : List.of(owner, operator, warm)) {
            api.get(key, "/v1/whoami"); // last-used times settle before anything is read
        }
        ObjectNode n = ApiFixture.JSON.createObjectNode();
        for (String path : List.of(
                "/v1/users?limit=500",
                "/v1/api-keys?limit=500",
                "/v1/agent-tokens?limit=500",
                "/v1/agent-identities?limit=500",
                "/v1/agent-enrollments?limit=500",
                "/v1/agent-certificates?limit=500",
                "/v1/services?limit=500",
                "/v1/services/a-git",
                "/v1/services/a-shared",
                "/v1/service-offers",
                "/v1/endpoints?limit=500",
                "/v1/endpoints?side=provider&limit=500",
                "/v1/endpoints/" + acmeEndpoint,
                "/v1/endpoints/" + globexEndpoint)) {
            n.set(path, api.get(owner, path));
        }
        n.set("accounts", api.get(operator, "/v1/accounts"));
        return n;
    }

    static void assertNoAcmeSecrets(String request, String response) {
        for (String secret : ACME_SECRETS) {
            if (!request.contains(secret)) {
                assertThat(response).as("response to globex's %s", request).doesNotContain(secret);
            }
        }
    }
}
