package dev.underpass.controlplane;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The limits on failed authentication attempts, on a clock the test moves: no sleeping. */
class AuthFailuresTest {
    static final SocketAddress ALICE = at("203.0.113.7");
    static final SocketAddress BOB = at("198.51.100.20");
    /** Two keys that share nothing, and one with the first key's shown prefix but another secret. */
    static final String KEY = Secrets.API_KEY_PREFIX + "AbCdEfGh" + "x".repeat(35);
    static final String SAME_PREFIX = Secrets.API_KEY_PREFIX + "AbCdEfGh" + "y".repeat(35);
    static final String OTHER_KEY = Secrets.API_KEY_PREFIX + "ZyXwVuTs" + "x".repeat(35);

    /** Nanoseconds; starts far from zero and negative, as System.nanoTime may. */
    final AtomicLong nanos = new AtomicLong(-5_000_000_000L);
    ListAppender<ILoggingEvent> logged;
    Logger authLog;

    @BeforeEach
    void captureLog() {
        authLog = (Logger) LoggerFactory.getLogger("underpass.auth");
        logged = new ListAppender<>();
        logged.start();
        authLog.addAppender(logged);
    }

    @AfterEach
    void releaseLog() {
        authLog.detachAppender(logged);
    }

    AuthFailures limiter(int perSource, int perPrincipal, int maxTracked) {
        return new AuthFailures(new AuthFailures.Limits(perSource, perPrincipal, Duration.ofMinutes(1), maxTracked), nanos::get);
    }

    void advance(Duration d) {
        nanos.addAndGet(d.toNanos());
    }

    static SocketAddress at(String ip) {
        try {
            return new InetSocketAddress(InetAddress.getByName(ip), 40000);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static String junk(int i) {
        return "not-a-key-" + i; // no recognisable prefix: counts for its source only
    }

    @Test
    void aSourceFailsItsLimitInABurstThenWaitsOneIntervalPerAttempt() {
        AuthFailures f = limiter(3, 100, 1000);
        for (int i = 0; i < 3; i++) {
            assertThat(f.check(ALICE, junk(i), "API")).as("attempt %d", i).isEmpty();
            f.failed(ALICE, junk(i));
        }
        Optional<AuthFailures.Refusal> refused = f.check(ALICE, junk(3), "API");
        assertThat(refused).isPresent();
        assertThat(refused.get().detail())
                .isEqualTo("too many failed authentication attempts from 203.0.113.7 (at most 3 per 60 s); retry in 20 s");
        assertThat(refused.get().retryAfterSeconds()).isEqualTo(20);
        ApiException e = refused.get().exception();
        assertThat(e.status()).isEqualTo(429);
        assertThat(e.headers()).containsEntry("retry-after", "20");

        assertThat(f.check(BOB, junk(4), "API")).as("another source").isEmpty();
        assertThat(f.check(ALICE, null, "API")).as("nothing to check, still from a limited source").isPresent();

        advance(Duration.ofMillis(19_500));
        assertThat(f.check(ALICE, junk(5), "API")).as("half a second before the interval ends").get()
                .extracting(AuthFailures.Refusal::retryAfterSeconds).isEqualTo(1L);
        advance(Duration.ofMillis(500));
        assertThat(f.check(ALICE, junk(6), "API")).as("one interval later: one more attempt").isEmpty();
        f.failed(ALICE, junk(6));
        assertThat(f.check(ALICE, junk(7), "API")).get().extracting(AuthFailures.Refusal::retryAfterSeconds).isEqualTo(20L);

        advance(Duration.ofMinutes(1));
        for (int i = 0; i < 3; i++) {
            assertThat(f.check(ALICE, junk(10 + i), "API")).as("a full window later, a full burst again: %d", i).isEmpty();
            f.failed(ALICE, junk(10 + i));
        }
        assertThat(f.check(ALICE, junk(13), "API")).isPresent();
    }

    @Test
    void refusedAttemptsAndChecksDoNotCountAndNothingResetsTheCount() {
        AuthFailures f = limiter(2, 100, 1000);
        for (int i = 0; i < 50; i++) {
            assertThat(f.check(ALICE, KEY, "API")).as("checks alone never limit").isEmpty();
        }
        f.failed(ALICE, junk(1));
        f.failed(ALICE, junk(2));
        for (int i = 0; i < 50; i++) {
            assertThat(f.check(ALICE, junk(3), "API")).get().extracting(AuthFailures.Refusal::retryAfterSeconds)
                    .as("refusals do not push the retry time out").isEqualTo(30L);
        }
        advance(Duration.ofSeconds(30));
        assertThat(f.check(ALICE, KEY, "API")).isEmpty(); // say it succeeded: the count stays as it is
        assertThat(f.check(ALICE, junk(4), "API")).as("the next bad attempt is still allowed once").isEmpty();
        f.failed(ALICE, junk(4));
        assertThat(f.check(ALICE, OTHER_KEY, "API")).as("a success for one key reset nothing for the source").isPresent();
    }

    @Test
    void aPrincipalIsLimitedFromEverySourceWhileOtherPrincipalsAreNot() {
        AuthFailures f = limiter(100, 2, 1000);
        f.failed(ALICE, KEY);
        f.failed(BOB, SAME_PREFIX); // the same shown prefix: the same principal, whatever the rest
        Optional<AuthFailures.Refusal> refused = f.check(at("192.0.2.99"), KEY, "API");
        assertThat(refused).as("from a third source").isPresent();
        assertThat(refused.get().detail()).isEqualTo("too many failed authentication attempts with API key upk_AbCdEfGh "
                + "(at most 2 per 60 s); retry in 30 s").doesNotContain(KEY.substring(12));
        assertThat(f.check(ALICE, OTHER_KEY, "API")).as("another key from the same source").isEmpty();
        assertThat(f.check(ALICE, junk(1), "API")).as("an unparseable credential from the same source").isEmpty();

        String token = Secrets.AGENT_TOKEN_PREFIX + "QwErTyUi" + "z".repeat(35);
        f.failed(ALICE, token);
        f.failed(ALICE, token);
        assertThat(f.check(ALICE, token, "agent session")).get().extracting(AuthFailures.Refusal::detail).asString()
                .contains("with agent token upa_QwErTyUi");
    }

    @Test
    void theLongerWaitDecidesAndNamesItsCause() {
        AuthFailures f = limiter(4, 2, 1000);
        f.failed(ALICE, KEY);
        f.failed(ALICE, KEY);
        assertThat(f.check(ALICE, KEY, "API")).get().extracting(AuthFailures.Refusal::detail).asString()
                .contains("with API key upk_AbCdEfGh").endsWith("retry in 30 s");
        for (int i = 0; i < 4; i++) {
            f.failed(ALICE, junk(i));
        }
        advance(Duration.ofSeconds(20)); // the source's bucket (15 s per attempt) still waits 25 s, the key's 10 s
        assertThat(f.check(ALICE, KEY, "API")).get().extracting(AuthFailures.Refusal::detail).asString()
                .contains("from 203.0.113.7").endsWith("retry in 25 s");
    }

    @Test
    void credentialsAreIdentifiedByTheirShownPrefixOnly() {
        assertThat(AuthFailures.principal(KEY)).isEqualTo("upk_AbCdEfGh");
        assertThat(AuthFailures.principal(Secrets.apiKey())).hasSize(Secrets.SHOWN_PREFIX_LENGTH).startsWith("upk_");
        assertThat(AuthFailures.principal(Secrets.agentToken())).hasSize(Secrets.SHOWN_PREFIX_LENGTH).startsWith("upa_");
        assertThat(AuthFailures.principal(Secrets.enrollmentToken())).hasSize(Secrets.SHOWN_PREFIX_LENGTH).startsWith("upe_");
        assertThat(AuthFailures.principal("upa_wrong")).as("too short").isNull();
        assertThat(AuthFailures.principal("upk_abc def ghi")).as("not base64url").isNull();
        assertThat(AuthFailures.principal("Basic dXNlcjpwYXNz")).isNull();
        assertThat(AuthFailures.principal(null)).isNull();
    }

    @Test
    void anIpv6SourceIsItsSlash64() {
        assertThat(AuthFailures.source(at("2001:db8:1:2::1"))).isEqualTo("2001:db8:1:2::/64");
        assertThat(AuthFailures.source(at("::1"))).isEqualTo("0:0:0:0:0:0:0:1");
        assertThat(AuthFailures.source(at("127.0.0.1"))).isEqualTo("127.0.0.1");
        assertThat(AuthFailures.source(null)).isNull();

        AuthFailures f = limiter(2, 100, 1000);
        f.failed(at("2001:db8:1:2::1"), junk(1));
        f.failed(at("2001:db8:1:2:ffff:ee:dd:cc"), junk(2));
        assertThat(f.check(at("2001:db8:1:2::99"), junk(3), "API")).get().extracting(AuthFailures.Refusal::detail)
                .asString().contains("from 2001:db8:1:2::/64");
        assertThat(f.check(at("2001:db8:1:3::1"), junk(3), "API")).as("the next /64").isEmpty();
    }

    @Test
    void memoryIsBoundedAndTheLeastRecentlyFailingAreForgottenFirst() {
        AuthFailures f = limiter(1, 1, 100);
        for (int i = 0; i < 5000; i++) {
            f.failed(at("10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255)), Secrets.apiKey());
        }
        assertThat(f.tracked()).as("at most 100 sources and 100 principals").isLessThanOrEqualTo(200);
        assertThat(f.check(at("10.0.19.135"), null, "API")).as("the last of 5000 (4999 = 19*256 + 135)").isPresent();
        assertThat(f.check(at("10.0.0.0"), null, "API")).as("the first, forgotten").isEmpty();

        advance(Duration.ofMinutes(2));
        f.failed(ALICE, junk(1));
        assertThat(f.tracked()).as("buckets that emptied are dropped on the next failure").isEqualTo(1);
    }

    @Test
    void refusalsAreLoggedOncePerSourcePerWindowWithACountAndNeverTheSecret() {
        AuthFailures f = limiter(1, 100, 1000);
        f.failed(ALICE, KEY);
        for (int i = 0; i < 57; i++) {
            assertThat(f.check(ALICE, KEY, "HTTP proxy")).isPresent();
        }
        assertThat(lines()).hasSize(1);
        assertThat(lines().getFirst()).startsWith("HTTP proxy attempt from /203.0.113.7:40000 refused without checking "
                + "its credential: too many failed authentication attempts from 203.0.113.7");
        for (int i = 0; i < 8; i++) { // each minute: one failure (allowed), then refusals
            advance(Duration.ofSeconds(60));
            assertThat(f.check(ALICE, KEY, "HTTP proxy")).isEmpty();
            f.failed(ALICE, KEY);
            for (int j = 0; j < 10; j++) {
                f.check(ALICE, KEY, "HTTP proxy");
            }
        }
        assertThat(lines()).as("one line per window").hasSize(9);
        assertThat(lines().get(1)).contains("(56 more refused from 203.0.113.7 since the last such line)");
        assertThat(lines().get(2)).contains("(9 more refused from 203.0.113.7 since the last such line)");
        assertThat(lines()).allSatisfy(l -> assertThat(l).doesNotContain(KEY.substring(Secrets.SHOWN_PREFIX_LENGTH)));
    }

    @Test
    void refusalLinesHaveABudgetPerWindowOverAllSources() {
        AuthFailures f = limiter(1, 100, 100_000);
        for (int i = 0; i < 300; i++) {
            SocketAddress s = at("10.9." + (i >> 8) + "." + (i & 255));
            f.failed(s, junk(i));
            assertThat(f.check(s, junk(i), "API")).isPresent();
        }
        assertThat(lines()).hasSize(AuthFailures.LOG_LINES_PER_WINDOW);
    }

    @Test
    void limitsMustBePositive() {
        assertThatThrownBy(() -> new AuthFailures.Limits(0, 5, Duration.ofMinutes(1), 10))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("perSource 0");
        assertThatThrownBy(() -> new AuthFailures.Limits(5, 5, Duration.ZERO, 10))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("window");
        assertThatThrownBy(() -> new AuthFailures.Limits(5, 5, Duration.ofMinutes(1), 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxTracked");
        assertThat(AuthFailures.Limits.DEFAULTS).isEqualTo(new AuthFailures.Limits(20, 5, Duration.ofMinutes(1), 100_000));
    }

    private List<String> lines() {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }
}
