package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.credential.AuthFailures;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jdbi.v3.core.statement.SqlLogger;
import org.jdbi.v3.core.statement.StatementContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Failed authentication through the real HTTPS API (all from 127.0.0.1, one source): once a
 * source or a key prefix is over its limit, failed attempts get 429 with {@code Retry-After}
 * instead of 401, while a correct key is accepted whatever the counts say (nobody is locked out
 * by someone else's failures); a wrong key retried costs no store lookup.
 */
class AuthFailuresApiTest {
    static final int PER_SOURCE = 6;
    static final int PER_PRINCIPAL = 3;

    @TempDir
    Path dir;

    final AtomicLong nanos = new AtomicLong();
    /** Statements that look a key up by its hash: each one is a credential check that reached the store. */
    final AtomicInteger keyLookups = new AtomicInteger();

    ApiFixture api;

    @BeforeEach
    void start() throws Exception {
        api = ApiFixture.start(
                dir,
                new AuthFailures(
                        new AuthFailures.Limits(PER_SOURCE, PER_PRINCIPAL, Duration.ofMinutes(1), 1000), nanos::get));
        api.cp.store.jdbi().setSqlLogger(new SqlLogger() {
            @Override
            public void logBeforeExecution(StatementContext context) {
                if (context.getRenderedSql().contains("where k.secret_sha256 =")) {
                    keyLookups.incrementAndGet();
                }
            }
        });
    }

    @AfterEach
    void stop() {
        if (api != null) {
            api.close();
        }
    }

    @Test
    void badKeysFromOneSourceTurnFrom401Into429WithRetryAfterWhileCorrectKeysFromItStillWork() {
        for (int i = 0; i < PER_SOURCE; i++) {
            api.call(Secrets.apiKey(), "GET", "/v1/services").problem(401); // each with its own prefix
        }
        assertThat(keyLookups).hasValue(PER_SOURCE);

        ApiFixture.Response limited = api.call(Secrets.apiKey(), "GET", "/v1/services");
        assertThat(limited.problem(429))
                .isEqualTo("too many failed authentication attempts from 127.0.0.1 (at most " + PER_SOURCE
                        + " per 60 s); retry in 10 s");
        assertThat(limited.headers().firstValue("retry-after")).hasValue("10");
        assertThat(limited.json().get("title").asText()).isEqualTo("Too Many Requests");
        assertThat(limited.json().get("instance").asText()).isEqualTo("/v1/services");
        assertThat(keyLookups).as("every presented key is checked").hasValue(PER_SOURCE + 1);
        // The source is over its limit (a CI egress address that one broken runner shares with the others):
        // a correct key from it is accepted all the same, on any route.
        assertThat(api.get(api.cp.operatorKey, "/v1/whoami").get("account").asText())
                .isEqualTo("operator");
        api.get(api.cp.operatorKey, "/v1/services");
        // Without a key there is nothing to check or count; routes without authentication still answer.
        assertThat(api.call(null, "GET", "/v1/services").problem(401)).contains("no API key");
        assertThat(api.call(null, "GET", "/v1/openapi.yaml").status()).isEqualTo(200);

        // A broken client retrying its wrong key: told to back off each time, and looked up once.
        String wrong = Secrets.apiKey();
        int before = keyLookups.get();
        for (int i = 0; i < 5; i++) {
            assertThat(api.call(wrong, "GET", "/v1/whoami").problem(429)).contains("from 127.0.0.1");
        }
        assertThat(keyLookups.get() - before)
                .as("store lookups for five tries of one wrong key")
                .isEqualTo(1);

        nanos.addAndGet(Duration.ofSeconds(10).toNanos());
        api.call(Secrets.apiKey(), "GET", "/v1/whoami").problem(401);
        api.call(Secrets.apiKey(), "GET", "/v1/whoami").problem(429);
    }

    @Test
    void aVictimsKeyWorksWhileItsPrefixIsOverTheLimit() {
        String key = api.ok(api.cp.operatorKey, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201)
                .at("/ownerKey/key")
                .asText();
        String prefix = Secrets.shownPrefix(key);
        for (int i = 0; i < PER_PRINCIPAL; i++) { // someone who saw the prefix in a key list or a log line
            api.call(prefix + Secrets.apiKey().substring(Secrets.SHOWN_PREFIX_LENGTH), "GET", "/v1/services")
                    .problem(401);
        }
        ApiFixture.Response limited =
                api.call(prefix + Secrets.apiKey().substring(Secrets.SHOWN_PREFIX_LENGTH), "GET", "/v1/services");
        assertThat(limited.problem(429))
                .isEqualTo("too many failed authentication attempts with API key " + prefix + " (at most "
                        + PER_PRINCIPAL + " per 60 s); retry in 20 s")
                .doesNotContain(key);
        assertThat(limited.headers().firstValue("retry-after")).hasValue("20");

        // The victim's own key is not locked out: it is checked and accepted.
        assertThat(api.get(key, "/v1/whoami").get("account").asText()).isEqualTo("acme");
        // Another key from the same source (under its own limit) is checked and works too.
        api.get(api.cp.operatorKey, "/v1/whoami");
    }

    @Test
    void aRevokedKeyCountsForItsPrefixLikeAnUnknownOne() {
        var created = api.ok(api.cp.operatorKey, "POST", "/v1/api-keys", "{\"name\":\"ci\"}", 201);
        String key = created.get("key").asText();
        api.ok(
                api.cp.operatorKey,
                "DELETE",
                "/v1/api-keys/" + created.at("/apiKey/id").asText(),
                null,
                200);
        for (int i = 0; i < PER_PRINCIPAL; i++) {
            api.call(key, "GET", "/v1/whoami").problem(401);
        }
        assertThat(api.call(key, "GET", "/v1/whoami").problem(429))
                .contains("with API key " + Secrets.shownPrefix(key));
    }
}
