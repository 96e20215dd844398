package dev.underpass.controlplane.credential;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.underpass.controlplane.api.ProblemMapper;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Secrets;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The limits on failed authentication attempts and the memory of refused secrets, on a clock the
 * test moves: no sleeping.
 */
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
        return new AuthFailures(
                new AuthFailures.Limits(perSource, perPrincipal, Duration.ofMinutes(1), maxTracked), nanos::get);
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
            assertThat(f.failed(ALICE, junk(i), "API"))
                    .as("failure %d: within the limit, answered as refused", i)
                    .isEmpty();
        }
        Optional<AuthFailures.Refusal> over = f.failed(ALICE, junk(3), "API");
        assertThat(over).isPresent();
        assertThat(over.get().detail())
                .isEqualTo(
                        "too many failed authentication attempts from 203.0.113.7 (at most 3 per 60 s); retry in 20 s");
        assertThat(over.get().retryAfterSeconds()).isEqualTo(20);
        Refused e = over.get().exception();
        assertThat(status(e)).isEqualTo(429);
        assertThat(ProblemMapper.headers(e)).containsEntry("retry-after", "20");

        assertThat(f.failed(BOB, junk(4), "API")).as("another source").isEmpty();
        assertThat(f.failed(ALICE, null, "API"))
                .as("a failure without a credential, from a limited source")
                .isPresent();

        advance(Duration.ofMillis(19_500));
        assertThat(f.failed(ALICE, junk(5), "API"))
                .as("half a second before the interval ends")
                .get()
                .extracting(AuthFailures.Refusal::retryAfterSeconds)
                .isEqualTo(1L);
        advance(Duration.ofMillis(500));
        assertThat(f.failed(ALICE, junk(6), "API"))
                .as("one interval later: one more within the limit")
                .isEmpty();
        assertThat(f.failed(ALICE, junk(7), "API"))
                .get()
                .extracting(AuthFailures.Refusal::retryAfterSeconds)
                .isEqualTo(20L);

        advance(Duration.ofMinutes(1));
        for (int i = 0; i < 3; i++) {
            assertThat(f.failed(ALICE, junk(10 + i), "API"))
                    .as("a full window later, a full burst again: %d", i)
                    .isEmpty();
        }
        assertThat(f.failed(ALICE, junk(13), "API")).isPresent();
    }

    @Test
    void failuresOverTheLimitDoNotPushTheRetryTimeOut() {
        AuthFailures f = limiter(2, 100, 1000);
        f.failed(ALICE, junk(1), "API");
        f.failed(ALICE, junk(2), "API");
        for (int i = 0; i < 50; i++) {
            assertThat(f.failed(ALICE, junk(3), "API"))
                    .get()
                    .extracting(AuthFailures.Refusal::retryAfterSeconds)
                    .as("a flood does not push the retry time out")
                    .isEqualTo(30L);
        }
        advance(Duration.ofSeconds(30));
        assertThat(f.failed(ALICE, junk(4), "API"))
                .as("the next failure is within the limit again, once")
                .isEmpty();
        assertThat(f.failed(ALICE, OTHER_KEY, "API")).isPresent();
    }

    @Test
    void aPrincipalIsLimitedFromEverySourceWhileOtherPrincipalsAreNot() {
        AuthFailures f = limiter(100, 2, 1000);
        f.failed(ALICE, KEY, "API");
        f.failed(BOB, SAME_PREFIX, "API"); // the same shown prefix: the same principal, whatever the rest
        Optional<AuthFailures.Refusal> over = f.failed(at("192.0.2.99"), KEY, "API");
        assertThat(over).as("from a third source").isPresent();
        assertThat(over.get().detail())
                .isEqualTo("too many failed authentication attempts with API key upk_AbCdEfGh "
                        + "(at most 2 per 60 s); retry in 30 s")
                .doesNotContain(KEY.substring(12));
        assertThat(f.failed(ALICE, OTHER_KEY, "API"))
                .as("another key from the same source")
                .isEmpty();
        assertThat(f.failed(ALICE, junk(1), "API"))
                .as("an unparseable credential from the same source")
                .isEmpty();

        String token = Secrets.AGENT_TOKEN_PREFIX + "QwErTyUi" + "z".repeat(35);
        f.failed(ALICE, token, "agent session");
        f.failed(ALICE, token, "agent session");
        assertThat(f.failed(ALICE, token, "agent session"))
                .get()
                .extracting(AuthFailures.Refusal::detail)
                .asString()
                .contains("with agent token upa_QwErTyUi");
    }

    @Test
    void theLongerWaitDecidesAndNamesItsCause() {
        AuthFailures f = limiter(1, 3, 1000); // the source: one failure a minute; a principal: one every 20 s
        f.failed(ALICE, junk(1), "API");
        for (int i = 1; i <= 3; i++) {
            f.failed(at("192.0.2." + i), KEY, "API");
        }
        assertThat(f.failed(ALICE, KEY, "API"))
                .get()
                .extracting(AuthFailures.Refusal::detail)
                .asString()
                .contains("from 203.0.113.7")
                .endsWith("retry in 60 s");
        assertThat(f.failed(at("192.0.2.99"), KEY, "API"))
                .get()
                .extracting(AuthFailures.Refusal::detail)
                .asString()
                .contains("with API key upk_AbCdEfGh")
                .endsWith("retry in 20 s");
    }

    @Test
    void aRefusedSecretIsRememberedByItsHashForOneWindowSoThatRetriesSkipTheStore() {
        AuthFailures f = limiter(100, 100, 1000);
        AtomicInteger lookups = new AtomicInteger();
        Refused unknown = Refused.unauthenticated("API key not recognised");
        Supplier<String> refusing = () -> {
            lookups.incrementAndGet();
            throw unknown;
        };
        for (int i = 0; i < 5; i++) {
            assertThatThrownBy(() -> f.lookup(KEY, refusing)).as("retry %d", i).isSameAs(unknown);
        }
        assertThat(lookups).as("only the first reached the store").hasValue(1);
        assertThat(f.lookup(SAME_PREFIX, () -> "principal"))
                .as("another secret, even with the same prefix")
                .isEqualTo("principal");

        Refused busy = new Refused(Refused.Kind.UNAVAILABLE, "the store cannot answer");
        for (int i = 0; i < 2; i++) {
            assertThatThrownBy(() -> f.lookup(OTHER_KEY, () -> {
                        lookups.incrementAndGet();
                        throw busy;
                    }))
                    .isSameAs(busy);
        }
        assertThat(lookups).as("only refusals (401) are remembered").hasValue(3);

        advance(Duration.ofMinutes(1));
        assertThatThrownBy(() -> f.lookup(KEY, refusing)).isSameAs(unknown);
        assertThat(lookups).as("a window later it is looked up again").hasValue(4);
    }

    @Test
    void atMostSoManyRefusedSecretsAreRemembered() {
        AuthFailures f = limiter(100, 100, 1000);
        Refused unknown = Refused.unauthenticated("API key not recognised");
        String first = Secrets.apiKey();
        assertThatThrownBy(() -> f.lookup(first, () -> {
                    throw unknown;
                }))
                .isSameAs(unknown);
        for (int i = 0; i < AuthFailures.MAX_REMEMBERED; i++) {
            assertThatThrownBy(() -> f.lookup(Secrets.apiKey(), () -> {
                        throw unknown;
                    }))
                    .isSameAs(unknown);
        }
        assertThat(f.lookup(first, () -> "looked up"))
                .as("the oldest was forgotten")
                .isEqualTo("looked up");
    }

    @Test
    void credentialsAreIdentifiedByTheirShownPrefixOnly() {
        assertThat(AuthFailures.principal(KEY)).isEqualTo("upk_AbCdEfGh");
        assertThat(AuthFailures.principal(Secrets.apiKey()))
                .hasSize(Secrets.SHOWN_PREFIX_LENGTH)
                .startsWith("upk_");
        assertThat(AuthFailures.principal(Secrets.agentToken()))
                .hasSize(Secrets.SHOWN_PREFIX_LENGTH)
                .startsWith("upa_");
        assertThat(AuthFailures.principal(Secrets.enrollmentToken()))
                .hasSize(Secrets.SHOWN_PREFIX_LENGTH)
                .startsWith("upe_");
        assertThat(AuthFailures.principal("upa_wrong")).as("too short").isNull();
        assertThat(AuthFailures.principal("upk_abc def ghi"))
                .as("not base64url")
                .isNull();
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
        f.failed(at("2001:db8:1:2::1"), junk(1), "API");
        f.failed(at("2001:db8:1:2:ffff:ee:dd:cc"), junk(2), "API");
        assertThat(f.failed(at("2001:db8:1:2::99"), junk(3), "API"))
                .get()
                .extracting(AuthFailures.Refusal::detail)
                .asString()
                .contains("from 2001:db8:1:2::/64");
        assertThat(f.failed(at("2001:db8:1:3::1"), junk(3), "API"))
                .as("the next /64")
                .isEmpty();
    }

    @Test
    void memoryIsBoundedAndTheLeastRecentlyFailingAreForgottenFirst() {
        AuthFailures f = limiter(1, 1, 100);
        for (int i = 0; i < 5000; i++) {
            f.failed(at("10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255)), Secrets.apiKey(), "API");
        }
        assertThat(f.tracked()).as("at most 100 sources and 100 principals").isLessThanOrEqualTo(200);
        assertThat(f.failed(at("10.0.19.135"), null, "API"))
                .as("the last of 5000 (4999 = 19*256 + 135)")
                .isPresent();
        assertThat(f.failed(at("10.0.0.0"), null, "API"))
                .as("the first, forgotten")
                .isEmpty();

        advance(Duration.ofMinutes(2));
        f.failed(ALICE, junk(1), "API");
        assertThat(f.tracked())
                .as("buckets that emptied are dropped on the next failure")
                .isEqualTo(1);
    }

    @Test
    void failuresOverTheLimitAreLoggedOncePerSourcePerWindowWithACountAndNeverTheSecret() {
        AuthFailures f = limiter(1, 100, 1000);
        f.failed(ALICE, KEY, "HTTP proxy");
        for (int i = 0; i < 57; i++) {
            assertThat(f.failed(ALICE, KEY, "HTTP proxy")).isPresent();
        }
        assertThat(lines()).hasSize(1);
        assertThat(lines().getFirst())
                .startsWith("HTTP proxy attempt from /203.0.113.7:40000 failed over the limit: "
                        + "too many failed authentication attempts from 203.0.113.7");
        for (int i = 0; i < 8; i++) { // each minute: one failure within the limit, then ten over it
            advance(Duration.ofSeconds(60));
            assertThat(f.failed(ALICE, KEY, "HTTP proxy")).isEmpty();
            for (int j = 0; j < 10; j++) {
                f.failed(ALICE, KEY, "HTTP proxy");
            }
        }
        assertThat(lines()).as("one line per window").hasSize(9);
        assertThat(lines().get(1)).contains("(56 more failed from 203.0.113.7 since the last such line)");
        assertThat(lines().get(2)).contains("(9 more failed from 203.0.113.7 since the last such line)");
        assertThat(lines()).allSatisfy(l -> assertThat(l).doesNotContain(KEY.substring(Secrets.SHOWN_PREFIX_LENGTH)));
    }

    @Test
    void overTheLimitLinesHaveABudgetPerWindowOverAllSources() {
        AuthFailures f = limiter(1, 100, 100_000);
        for (int i = 0; i < 300; i++) {
            SocketAddress s = at("10.9." + (i >> 8) + "." + (i & 255));
            assertThat(f.failed(s, junk(i), "API")).isEmpty();
            assertThat(f.failed(s, junk(i), "API")).isPresent();
        }
        assertThat(lines()).hasSize(AuthFailures.LOG_LINES_PER_WINDOW);
    }

    @Test
    void limitsMustBePositive() {
        assertThatThrownBy(() -> new AuthFailures.Limits(0, 5, Duration.ofMinutes(1), 10))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("perSource 0");
        assertThatThrownBy(() -> new AuthFailures.Limits(5, 5, Duration.ZERO, 10))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("window");
        assertThatThrownBy(() -> new AuthFailures.Limits(5, 5, Duration.ofMinutes(1), 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxTracked");
        assertThat(AuthFailures.Limits.DEFAULTS)
                .isEqualTo(new AuthFailures.Limits(20, 5, Duration.ofMinutes(1), 100_000));
    }

    private List<String> lines() {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }
}
