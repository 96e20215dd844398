package dev.underpass.telemetry;

import static dev.underpass.telemetry.SecretMasker.mask;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SecretMaskerTest {
    private static final SecureRandom RANDOM = new SecureRandom();

    /** Like controlplane's Secrets: prefix and 32 random bytes in base64url, 43 characters. */
    private static String secret(String prefix) {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return prefix + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static final String JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"
            + ".eyJpc3MiOiJodHRwczovL2lzc3VlciIsInN1YiI6ImFnZW50LTEiLCJhdWQiOiJ1bmRlcnBhc3MifQ"
            + ".c2lnbmF0dXJlLWJ5dGVzLXRoYXQtbG9vay1yYW5kb20tZW5vdWdo_-";

    @Test
    void agentTokensAndApiKeysKeepOnlyTheirPrefix() {
        for (int i = 0; i < 200; i++) {
            String token = secret("upa_");
            String key = secret("upk_");
            assertThat(mask("agent token " + token + " accepted")).isEqualTo("agent token upa_**** accepted");
            assertThat(mask("key=" + key)).isEqualTo("key=upk_****");
            assertThat(mask("(" + key + ")")).isEqualTo("(upk_****)");
        }
        assertThat(mask("tokens upa_AbCdEfGh12345678, upk_-_-_-_-_-_-_-_-_-_")).isEqualTo("tokens upa_****, upk_****");
    }

    @Test
    void agentEnrollmentTokensKeepOnlyTheirPrefix() {
        for (int i = 0; i < 200; i++) {
            String token = secret("upe_");
            assertThat(mask("enrolling with " + token + " now")).isEqualTo("enrolling with upe_**** now");
            assertThat(mask("Authorization: Bearer " + token)).isEqualTo("Authorization: Bearer upe_****");
            assertThat(mask("token=" + token)).isEqualTo("token=upe_****");
        }
    }

    @Test
    void aTokenUnderASecretNameOrHeaderKeepsItsPrefix() {
        String token = secret("upa_");
        String key = secret("upk_");
        assertThat(mask("token=" + token)).isEqualTo("token=upa_****");
        assertThat(mask("{\"key\":\"" + key + "\",\"name\":\"ci\"}"))
                .isEqualTo("{\"key\":\"upk_****\",\"name\":\"ci\"}");
        assertThat(mask("Authorization: Bearer " + key)).isEqualTo("Authorization: Bearer upk_****");
        assertThat(mask("Proxy-Authorization: " + key)).isEqualTo("Proxy-Authorization: upk_****");
        assertThat(mask("http://x:" + key + "@gw:8443/")).isEqualTo("http://x:upk_****@gw:8443/");
    }

    @Test
    void authorizationValuesAreMaskedWhateverTheSchemeOrCase() {
        assertThat(mask("Authorization: Bearer abc.DEF-123")).isEqualTo("Authorization: Bearer ****");
        assertThat(mask("authorization: basic dXNlcjpwYXNzd29yZA==")).isEqualTo("authorization: basic ****");
        assertThat(mask("PROXY-AUTHORIZATION: Basic YWxpY2U6czNjcjN0")).isEqualTo("PROXY-AUTHORIZATION: Basic ****");
        assertThat(mask("Proxy-Authorization:Basic YTpi")).isEqualTo("Proxy-Authorization:Basic ****");
        assertThat(mask("request headers {Host=gw:8080, Proxy-Authorization=Basic YWxpY2U6czNjcjN0, Accept=*/*}"))
                .isEqualTo("request headers {Host=gw:8080, Proxy-Authorization=Basic ****, Accept=*/*}");
        assertThat(mask("{\"Authorization\":\"Bearer s3cr3t\",\"Host\":\"gw\"}"))
                .isEqualTo("{\"Authorization\":\"Bearer ****\",\"Host\":\"gw\"}");
        assertThat(
                        mask(
                                "Authorization: Digest username=\"bob\", realm=\"r\", response=\"6629fae49393a05397450978507c4ef1\""))
                .isEqualTo("Authorization: Digest ****");
        // No scheme, or one we do not know: the whole value goes, so that no credential is mistaken for a scheme.
        assertThat(mask("Authorization: hunter2")).isEqualTo("Authorization: ****");
        assertThat(mask("Authorization: Custom k=1 sig=abcdef")).isEqualTo("Authorization: ****");
        assertThat(mask("X-Forwarded-Authorization: Bearer abc123"))
                .isEqualTo("X-Forwarded-Authorization: Bearer ****");
        assertThat(mask("first Authorization: Bearer one\nsecond Authorization: Bearer two\nthird line"))
                .isEqualTo("first Authorization: Bearer ****\nsecond Authorization: Bearer ****\nthird line");
    }

    @Test
    void bareBearerAndBasicCredentialsAreMasked() {
        assertThat(mask("refused Bearer Zm9vYmFyYmF6cXV4 from /10.0.0.1:4000"))
                .isEqualTo("refused Bearer **** from /10.0.0.1:4000");
        assertThat(mask("sent basic YWxpY2U6czNjcjN0 upstream")).isEqualTo("sent basic **** upstream");
        assertThat(mask("Basic dXNlcjpwYXNz=")).isEqualTo("Basic ****");
        assertThat(mask("bearer abcdefgh12")).isEqualTo("bearer ****");
    }

    @Test
    void urlUserinfoPasswordsAreMasked() {
        assertThat(mask("proxy http://alice:s3cr3t@proxy.example:3128 unreachable"))
                .isEqualTo("proxy http://alice:****@proxy.example:3128 unreachable");
        assertThat(mask("HTTPS_PROXY=https://bob:p%40ss:w0rd@10.0.0.2/"))
                .isEqualTo("HTTPS_PROXY=https://bob:****@10.0.0.2/");
        assertThat(mask("jdbc:postgresql://underpass:pa@ss@db:5432/underpass?ssl=true"))
                .isEqualTo("jdbc:postgresql://underpass:****@db:5432/underpass?ssl=true");
        assertThat(mask("socks5://:onlypass@h")).isEqualTo("socks5://:****@h");
    }

    @Test
    void secretNamedValuesAreMasked() {
        assertThat(mask("password=hunter2 user=bob")).isEqualTo("password=**** user=bob");
        assertThat(mask("db passwd = 'hunter 2', pool=4")).isEqualTo("db passwd = '****', pool=4");
        assertThat(mask("{password=hunter2, user=bob}")).isEqualTo("{password=****, user=bob}");
        assertThat(mask("jdbc:postgresql://db/u?user=u&password=hunter2&ssl=true"))
                .isEqualTo("jdbc:postgresql://db/u?user=u&password=****&ssl=true");
        assertThat(mask("client_secret=abc&grant_type=x")).isEqualTo("client_secret=****&grant_type=x");
        assertThat(mask("agentToken=xyz123 ok")).isEqualTo("agentToken=**** ok");
        assertThat(mask("PASSWORD=\"quoted \\\" value\" next")).isEqualTo("PASSWORD=\"****\" next");
        assertThat(
                        mask(
                                "pwd=1 secret=2 token=3 api_key=4 apikey=5 access-key=6 private_key=7 secretKey=8 credentials=9"))
                .isEqualTo("pwd=**** secret=**** token=**** api_key=**** apikey=**** access-key=**** private_key=****"
                        + " secretKey=**** credentials=****");
        assertThat(mask("passphrase=correct-horse")).isEqualTo("passphrase=****");
    }

    @Test
    void secretNamedJsonFieldsAreMasked() {
        assertThat(mask("body {\"user\":\"bob\",\"password\":\"hunter2\"}"))
                .isEqualTo("body {\"user\":\"bob\",\"password\":\"****\"}");
        assertThat(mask("{\"token\" : \"abc\\\"def\", \"n\": 1}")).isEqualTo("{\"token\" : \"****\", \"n\": 1}");
        assertThat(mask("{\"key\":\"not-a-known-format\"}")).isEqualTo("{\"key\":\"****\"}");
        assertThat(mask("{\"password\":\"\",\"token\":null}")).isEqualTo("{\"password\":\"\",\"token\":null}");
        assertThat(mask("{\"clientSecret\":\"s\",\"refresh_token\":\"r\",\"apiKey\":\"k\"}"))
                .isEqualTo("{\"clientSecret\":\"****\",\"refresh_token\":\"****\",\"apiKey\":\"****\"}");
    }

    @Test
    void jwtsAreMasked() {
        assertThat(mask("oidc token " + JWT + " refused: expired")).isEqualTo("oidc token eyJ**** refused: expired");
        assertThat(mask("alg none: " + "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")).isEqualTo("alg none: eyJ****");
        assertThat(mask("Authorization: Bearer " + JWT)).isEqualTo("Authorization: Bearer eyJ****");
        assertThat(mask("{\"id_token\":\"" + JWT + "\"}")).isEqualTo("{\"id_token\":\"eyJ****\"}");
    }

    @Test
    void secretsInsideAStackTraceAreMasked() {
        String key = secret("upk_");
        String trace = "java.lang.IllegalStateException: login with " + key + " failed\n"
                + "\tat dev.underpass.X.y(X.java:1)\n"
                + "Caused by: java.io.IOException: password=hunter2 refused by http://a:b@c\n"
                + "\tat dev.underpass.X.z(X.java:2)\n";
        assertThat(mask(trace))
                .isEqualTo("java.lang.IllegalStateException: login with upk_**** failed\n"
                        + "\tat dev.underpass.X.y(X.java:1)\n"
                        + "Caused by: java.io.IOException: password=**** refused by http://a:****@c\n"
                        + "\tat dev.underpass.X.z(X.java:2)\n");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "connection 12 endpoint=ep-0123456789abcdef from=/127.0.0.1:5555 closed: COMPLETED sent=10 received=20 duration=3ms",
                "GET gw.example:443 from /10.1.2.3:50000 account=acme key=key-abc -> endpoint ep-0123456789abcdef port 5432",
                "SOCKS5 CONNECT db.internal:5432 from /[::1]:6000 account=acme key=key-0123456789abcdef -> direct egress",
                "agent agt-0123456789abcdef connected from 10.0.0.7:41000 (token prefix upa_abcdefgh)",
                "listing 3 tokens, 2 keys; tokenPrefix=upa_abc12345 keyId=key-abc",
                "gateway listening on 0.0.0.0:8443, api https://gw.example:9443/v1, ops http://127.0.0.1:9090/metrics",
                "missing Authorization header; Basic authentication and bearer token-based login are refused",
                "Bearer token missing for key-abc",
                "refused: invalid token (expired) for agent agt-1; retry in 5s",
                "the password was rejected; secret rotation due",
                "user bob@example.com logged in from 192.168.0.1",
                "{\"id\":\"key-abc\",\"name\":\"ci\",\"prefix\":\"upk_abcdefgh\",\"tokens\":2}",
                "eyJ is how a JWT starts",
                "short",
                ""
            })
    void ordinaryLinesAreLeftUntouched(String line) {
        assertThat(mask(line)).isSameAs(line);
    }

    @Test
    void maskingIsIdempotentAndNullSafe() {
        String line = "Authorization: Bearer " + secret("upk_") + " token=" + secret("upa_") + " password=x " + JWT
                + " http://u:p@h {\"key\":\"k\"}";
        String once = mask(line);
        assertThat(mask(once)).isEqualTo(once);
        assertThat(once)
                .isEqualTo("Authorization: Bearer upk_**** token=upa_**** password=**** eyJ**** http://u:****@h"
                        + " {\"key\":\"****\"}");
        assertThat(mask(null)).isNull();
    }

    @Test
    void secretsAreFoundWhereverTheyAreInTheLine() {
        // Lower-casing "İ" gives two characters: positions found in the lower-cased text are off.
        assertThat(mask("İİİİİİİİ user İstanbul password=hunter2 http://u:p@h Bearer abcdefgh12"))
                .isEqualTo("İİİİİİİİ user İstanbul password=**** http://u:****@h Bearer ****");
        // An earlier replacement shortens the text before a later secret.
        assertThat(mask("upa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA then eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig "
                        + "x Proxy-Authorization: Basic YTpi secret=s"))
                .isEqualTo("upa_**** then eyJ**** x Proxy-Authorization: Basic **** secret=****");
        // A lookbehind still sees the character before where a search starts.
        assertThat(mask("xBearer abcdefgh12 Bearer abcdefgh12")).isEqualTo("xBearer abcdefgh12 Bearer ****");
        assertThat(mask("{\"key\":\"k1\",\"apikey\":\"k2\"}")).isEqualTo("{\"key\":\"****\",\"apikey\":\"****\"}");
    }

    @Test
    void longValuesDoNotOverflowTheStack() {
        String big = "x".repeat(200_000);
        String escaped = "\\\"".repeat(50_000);
        assertThat(mask("password=\"" + big + "\"")).isEqualTo("password=\"****\"");
        assertThat(mask("{\"password\":\"" + escaped + "\"}")).isEqualTo("{\"password\":\"****\"}");
        assertThat(mask("Authorization: Basic "
                        + Base64.getEncoder().encodeToString(big.getBytes(StandardCharsets.US_ASCII))))
                .isEqualTo("Authorization: Basic ****");
    }
}
