package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.nimbusds.jwt.PlainJWT;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.controlplane.tenancy.Users;
import dev.underpass.gateway.auth.OidcIssuer;
import dev.underpass.testkit.ApiContract;
import dev.underpass.testkit.OidcIssuerServer;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * OIDC login for API users on the gateway's real HTTPS API: a JWT of the configured issuer and
 * audience, presented with {@code underpass-account: NAME}, acts as the user of that account
 * whose oidcSubject is its sub, with the user's whole role (key "oidc"); wrong, expired,
 * unsigned or unknown tokens get a 401 with the reason and count as failed attempts. Subjects
 * are unique per account, set by each account's own admins, so no account can claim another's
 * people nor learn that another account links a subject.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class OidcLoginTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String ALICE = "alice@corp.example";

    @TempDir
    Path dir;

    final AtomicLong nanos = new AtomicLong();
    OidcIssuerServer issuer;
    Gateway gateway;
    HttpClient http;
    Principal operator;
    /** API keys of an admin (not the owner) of acme and of globex. */
    String acmeAdmin;

    String globexAdmin;

    @BeforeEach
    void start() throws Exception {
        issuer = new OidcIssuerServer();
        Path config = Files.writeString(dir.resolve("gateway.yaml"), """
                agentListen: 127.0.0.1:0
                apiListen: 127.0.0.1:0
                proxyListen: 127.0.0.1:0
                sniListen: 127.0.0.1:0
                metricsListen: 127.0.0.1:0
                oidcIssuers:
                  - issuer: %s
                oidcUsers:
                  issuer: %s
                """.formatted(issuer.issuer(), issuer.issuer()));
        gateway = Gateway.start(
                GatewayConfig.load(config),
                dir.resolve("data"),
                new AuthFailures(AuthFailures.Limits.DEFAULTS, nanos::get));
        operator = gateway.controlPlane().apiKeys().authenticate(operatorKey());
        acmeAdmin = adminKeyOfNewAccount("acme");
        globexAdmin = adminKeyOfNewAccount("globex");

        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(gateway.caFile())) {
            trust.setCertificateEntry(
                    "ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        // Every exchange checked against the API's OpenAPI document.
        http = ApiContract.checking(HttpClient.newBuilder()
                .sslContext(ssl)
                .connectTimeout(Duration.ofSeconds(10))
                .build());
    }

    @AfterEach
    void stop() {
        http.close();
        gateway.close();
        issuer.close();
    }

    /** Creates the account, and in it an admin user "ops" with a key of its own, whose key it returns. */
    private String adminKeyOfNewAccount(String account) {
        ControlPlane cp = gateway.controlPlane();
        Principal owner = cp.apiKeys()
                .authenticate(cp.accounts()
                        .create(operator, new Accounts.CreateRequest(account, null))
                        .ownerKey()
                        .key());
        cp.users().create(owner, new Users.CreateRequest("ops", Role.ADMIN));
        return cp.apiKeys()
                .create(owner, new ApiKeys.CreateRequest("ops", "ops", null, null))
                .key();
    }

    private HttpResponse<String> call(String bearer, String method, String path, String body) throws Exception {
        return call(bearer, null, method, path, body);
    }

    /** A request with {@code authorization: Bearer bearer} and, unless null, {@code underpass-account: account}. */
    private HttpResponse<String> call(String bearer, String account, String method, String path, String body)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(
                        URI.create("https://localhost:" + gateway.apiAddress().getPort() + path))
                .timeout(Duration.ofSeconds(30))
                .header("authorization", "Bearer " + bearer)
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (account != null) {
            b.header("underpass-account", account);
        }
        if (body != null) {
            b.header("content-type", "application/json");
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> whoami(String jwt, String account) throws Exception {
        return call(jwt, account, "GET", "/v1/whoami", null);
    }

    private String refusal(String jwt, String account) throws Exception {
        HttpResponse<String> r = whoami(jwt, account);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(401);
        String detail = JSON.readTree(r.body()).get("detail").asText();
        assertThat(detail).doesNotContain(jwt);
        return detail;
    }

    private String refusal(String jwt) throws Exception {
        return refusal(jwt, "acme");
    }

    private String jwt(String subject) throws Exception {
        return issuer.token(subject, OidcIssuer.Users.DEFAULT_AUDIENCE);
    }

    private void link(String adminKey, String user, String role, String subject) throws Exception {
        HttpResponse<String> created = call(
                adminKey,
                "POST",
                "/v1/users",
                "{\"name\":\"" + user + "\",\"role\":\"" + role + "\",\"oidcSubject\":\"" + subject + "\"}");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        assertThat(created.body()).contains("\"oidcSubject\":\"" + subject + "\"");
    }

    @Test
    void eachAccountsAdminLinksTheSameSubjectAndTheHeaderPicksTheAccount() throws Exception {
        // (a) Each account's own admin (users:write, no accounts:write) links its own user to the same person.
        link(acmeAdmin, "alice", "member", ALICE);
        link(globexAdmin, "al", "viewer", ALICE);

        // (b) The same JWT logs in as acme's user with underpass-account: acme, as globex's with globex.
        String jwt = jwt(ALICE);
        HttpResponse<String> atAcme = whoami(jwt, "acme");
        assertThat(atAcme.statusCode()).as(atAcme.body()).isEqualTo(200);
        JsonNode me = JSON.readTree(atAcme.body());
        assertThat(me.get("account").asText()).isEqualTo("acme");
        assertThat(me.get("user").asText()).isEqualTo("alice");
        assertThat(me.get("role").asText()).isEqualTo("member");
        assertThat(me.get("apiKeyId").asText()).isEqualTo("oidc");
        HttpResponse<String> atGlobex = whoami(jwt, "globex");
        assertThat(atGlobex.statusCode()).as(atGlobex.body()).isEqualTo(200);
        me = JSON.readTree(atGlobex.body());
        assertThat(me.get("account").asText()).isEqualTo("globex");
        assertThat(me.get("user").asText()).isEqualTo("al");
        assertThat(me.get("role").asText()).isEqualTo("viewer");

        // Each sees only its own account's users.
        assertThat(call(jwt, "globex", "GET", "/v1/users", null).body())
                .contains("\"name\":\"al\"")
                .doesNotContain("\"name\":\"alice\"");

        // (c) Without the header: 401 that names the header, and the JWT is not taken for an API key.
        assertThat(refusal(jwt, null))
                .isEqualTo(
                        "OIDC token without header underpass-account (expected: the header naming "
                                + "the account to log in to, underpass-account: NAME, alongside an Authorization header: Bearer <JWT>)");

        // (d) An account where no user has the sub, and an account that does not exist: the same words.
        String noUser = refusal(jwt, Accounts.OPERATOR_ACCOUNT);
        String noAccount = refusal(jwt, "no-such-account");
        assertThat(noUser)
                .isEqualTo("OIDC token refused: no user of account " + Accounts.OPERATOR_ACCOUNT
                        + " has oidcSubject '" + ALICE + "' (expected: an admin of account " + Accounts.OPERATOR_ACCOUNT
                        + " sets it on the user first, and underpass-account names that account)");
        assertThat(noAccount.replace("no-such-account", Accounts.OPERATOR_ACCOUNT))
                .isEqualTo(noUser);

        // (e) A second user of acme with the same subject: 409, acme's business only.
        HttpResponse<String> dup = call(
                acmeAdmin,
                "POST",
                "/v1/users",
                "{\"name\":\"alice2\",\"role\":\"viewer\",\"oidcSubject\":\"" + ALICE + "\"}");
        assertThat(dup.statusCode()).as(dup.body()).isEqualTo(409);
        assertThat(dup.body()).contains("oidcSubject: already linked to user 'alice' of account acme");
        HttpResponse<String> dupPatch =
                call(acmeAdmin, "PATCH", "/v1/users/ops", "{\"oidcSubject\":\"" + ALICE + "\"}");
        assertThat(dupPatch.statusCode()).as(dupPatch.body()).isEqualTo(409);
        assertThat(call(acmeAdmin, "GET", "/v1/users", null).body()).doesNotContain("alice2");
    }

    @Test
    void aUsersJwtActsAsThatUserWithItsWholeRole() throws Exception {
        link(acmeAdmin, "alice", "admin", ALICE);
        String jwt = jwt(ALICE);
        HttpResponse<String> whoami = whoami(jwt, "acme");
        assertThat(whoami.statusCode()).as(whoami.body()).isEqualTo(200);
        JsonNode me = JSON.readTree(whoami.body());
        assertThat(me.get("account").asText()).isEqualTo("acme");
        assertThat(me.get("user").asText()).isEqualTo("alice");
        assertThat(me.get("role").asText()).isEqualTo("admin");
        assertThat(me.get("apiKeyId").asText()).isEqualTo("oidc");
        assertThat(me.get("scopes").toString()).contains("agent-tokens:write", "users:write", "agent-identities:write");

        HttpResponse<String> created = call(jwt, "acme", "POST", "/v1/agent-tokens", "{\"name\":\"by-oidc\"}");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        HttpResponse<String> users = call(jwt, "acme", "GET", "/v1/users", null);
        assertThat(users.body()).contains("\"oidcSubject\":\"" + ALICE + "\"");
    }

    @Test
    void badTokensAreRefusedWithTheirReasonAndCountAsFailures() throws Exception {
        link(acmeAdmin, "alice", "admin", ALICE);
        assertThat(refusal(issuer.token(ALICE, OidcIssuer.DEFAULT_AUDIENCE)))
                .contains("OIDC token refused: wrong audience: aud [underpass] (expected to contain: underpass-api)");
        assertThat(refusal(OidcIssuerServer.sign(
                        issuer.claims(
                                ALICE,
                                OidcIssuer.Users.DEFAULT_AUDIENCE,
                                b -> b.expirationTime(Date.from(Instant.now().minus(Duration.ofHours(1))))),
                        issuer.key())))
                .contains("OIDC token refused: expired at");
        assertThat(refusal(OidcIssuerServer.sign(
                        issuer.claims(ALICE, OidcIssuer.Users.DEFAULT_AUDIENCE, b -> {}),
                        OidcIssuerServer.newKey(issuer.key().getKeyID()))))
                .contains("OIDC token refused: bad signature");
        assertThat(refusal(new PlainJWT(issuer.claims(ALICE, OidcIssuer.Users.DEFAULT_AUDIENCE, b -> {})).serialize()))
                .contains("OIDC token refused: unsigned token: alg none");
        assertThat(refusal(jwt("mallory@evil.example")))
                .contains("OIDC token refused: no user of account acme has oidcSubject 'mallory@evil.example'");
        assertThat(refusal("not-a-jwt")).contains("OIDC token refused: malformed token");

        // 20 failures a minute from one source, unknown accounts included; the clock of the limits stands still.
        HttpResponse<String> r = null;
        for (int i = 0; i < AuthFailures.Limits.DEFAULTS.perSource() && (r == null || r.statusCode() != 429); i++) {
            r = whoami(jwt(ALICE), "account-" + i);
        }
        assertThat(r.statusCode()).as(r.body()).isEqualTo(429);
        assertThat(r.headers().firstValue("retry-after")).isPresent();
        assertThat(whoami(jwt(ALICE), "acme").statusCode())
                .as("a correct login from the source over its limit is checked and accepted")
                .isEqualTo(200);
    }

    @Test
    void aMissingAccountHeaderIsNotCountedAsAFailedGuess() throws Exception {
        link(acmeAdmin, "alice", "admin", ALICE);
        String jwt = jwt(ALICE);
        for (int i = 0; i < AuthFailures.Limits.DEFAULTS.perSource() + 5; i++) {
            assertThat(refusal(jwt, null)).contains("without header underpass-account");
        }
        assertThat(whoami(jwt, "acme").statusCode()).isEqualTo(200);
    }

    @Test
    void anAdminUnlinksAndRelinksItsOwnUsersSubject() throws Exception {
        String carol = "carol@corp.example";
        link(acmeAdmin, "carol", "viewer", carol);
        String jwt = jwt(carol);
        assertThat(whoami(jwt, "acme").statusCode()).isEqualTo(200);

        HttpResponse<String> removed = call(acmeAdmin, "PATCH", "/v1/users/carol", "{\"oidcSubject\":\"\"}");
        assertThat(removed.statusCode()).as(removed.body()).isEqualTo(200);
        assertThat(refusal(jwt)).contains("no user of account acme has oidcSubject");

        HttpResponse<String> set = call(acmeAdmin, "PATCH", "/v1/users/carol", "{\"oidcSubject\":\"" + carol + "\"}");
        assertThat(set.statusCode()).as(set.body()).isEqualTo(200);
        assertThat(whoami(jwt, "acme").body()).contains("\"user\":\"carol\"");

        // users:write is what it takes: a key without it cannot link anyone.
        ControlPlane cp = gateway.controlPlane();
        Principal admin = cp.apiKeys().authenticate(acmeAdmin);
        String readOnly = cp.apiKeys()
                .create(admin, new ApiKeys.CreateRequest("read-only", null, List.of(Scope.USERS_READ), null))
                .key();
        HttpResponse<String> refused =
                call(readOnly, "PATCH", "/v1/users/carol", "{\"oidcSubject\":\"x@corp.example\"}");
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(403);
        assertThat(refused.body()).contains("users:write");
    }

    private String operatorKey() throws Exception {
        return Files.readString(dir.resolve("data").resolve(Gateway.ADMIN_KEY_FILE))
                .trim();
    }
}
