package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.AuthFailures;
import dev.underpass.controlplane.Secrets;
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
 * Failed authentication through the real HTTPS API (all from 127.0.0.1, one source): 401s turn
 * into 429s with {@code Retry-After} once a source or a key prefix is over its limit, and those
 * attempts never reach the store.
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
        api = ApiFixture.start(dir, new AuthFailures(
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
    void badKeysFromOneSourceTurnFrom401Into429WithRetryAfterAndAreNotLookedUp() {
        for (int i = 0; i < PER_SOURCE; i++) {
            api.call(Secrets.apiKey(), "GET", "/v1/services").problem(401); // each with its own prefix
        }
        assertThat(keyLookups).hasValue(PER_SOURCE);

        ApiFixture.Response limited = api.call(Secrets.apiKey(), "GET", "/v1/services");
        assertThat(limited.problem(429)).isEqualTo("too many failed authentication attempts from 127.0.0.1 (at most "
                + PER_SOURCE + " per 60 s); retry in 10 s");
        assertThat(limited.headers().firstValue("retry-after")).hasValue("10");
        assertThat(limited.json().get("title").asText()).isEqualTo("Too Many Requests");
        assertThat(limited.json().get("instance").asText()).isEqualTo("/v1/services");
        // The source is limited, so even a valid key is refused unchecked, on any authenticated route.
        assertThat(api.call(api.cp.operatorKey, "GET", "/v1/whoami").problem(429)).contains("from 127.0.0.1");
        assertThat(keyLookups).as("refused attempts never reach the store").hasValue(PER_SOURCE);
        // Without a key there is nothing to check or limit; routes without authentication still answer.
        assertThat(api.call(null, "GET", "/v1/services").problem(401)).contains("no API key");
        assertThat(api.call(null, "GET", "/v1/openapi.yaml").status()).isEqualTo(200);

        nanos.addAndGet(Duration.ofSeconds(9).toNanos());
        assertThat(api.call(api.cp.operatorKey, "GET", "/v1/whoami").headers().firstValue("retry-after")).hasValue("1");
        nanos.addAndGet(Duration.ofSeconds(1).toNanos());
        api.get(api.cp.operatorKey, "/v1/whoami");
        api.call(Secrets.apiKey(), "GET", "/v1/whoami").problem(401);
        api.call(Secrets.apiKey(), "GET", "/v1/whoami").problem(429);
        assertThat(keyLookups).hasValue(PER_SOURCE + 2);
    }

    @Test
    void onePrefixIsLimitedWhileOtherKeysFromTheSameSourceStillWork() {
        String key = api.ok(api.cp.operatorKey, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201).at("/ownerKey/key").asText();
        String prefix = Secrets.shownPrefix(key);
        int before = keyLookups.get();
        for (int i = 0; i < PER_PRINCIPAL; i++) { // someone holding the prefix guesses the rest
            api.call(prefix + Secrets.apiKey().substring(Secrets.SHOWN_PREFIX_LENGTH), "GET", "/v1/services").problem(401);
        }
        ApiFixture.Response limited = api.call(key, "GET", "/v1/services");
        assertThat(limited.problem(429)).isEqualTo("too many failed authentication attempts with API key " + prefix
                + " (at most " + PER_PRINCIPAL + " per 60 s); retry in 20 s").doesNotContain(key);
        assertThat(limited.headers().firstValue("retry-after")).hasValue("20");
        assertThat(keyLookups.get() - before).as("the limited attempt was not looked up").isEqualTo(PER_PRINCIPAL);

        // Another key, from the same source (under its own limit), is checked and works.
        api.get(api.cp.operatorKey, "/v1/whoami");

        nanos.addAndGet(Duration.ofSeconds(20).toNanos());
        assertThat(api.get(key, "/v1/whoami").get("account").asText()).isEqualTo("acme");
    }

    @Test
    void aRevokedKeyCountsForItsPrefixLikeAnUnknownOne() {
        var created = api.ok(api.cp.operatorKey, "POST", "/v1/api-keys", "{\"name\":\"ci\"}", 201);
        String key = created.get("key").asText();
        api.ok(api.cp.operatorKey, "DELETE", "/v1/api-keys/" + created.at("/apiKey/id").asText(), null, 200);
        for (int i = 0; i < PER_PRINCIPAL; i++) {
            api.call(key, "GET", "/v1/whoami").problem(401);
        }
        assertThat(api.call(key, "GET", "/v1/whoami").problem(429)).contains("with API key " + Secrets.shownPrefix(key));
    }
}
