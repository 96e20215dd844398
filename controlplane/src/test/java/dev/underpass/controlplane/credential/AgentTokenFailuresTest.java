package dev.underpass.controlplane.credential;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.api.ProblemMapper;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.store.StoreConfig;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
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
 * Agent tokens on a real store under the limits on failed attempts: a correct token is accepted
 * while its prefix or its source is over the limit; wrong ones then get 429 with
 * {@code Retry-After}, and a wrong one retried is looked up once.
 */
class AgentTokenFailuresTest {
    static final int PER_SOURCE = 6;
    static final int PER_PRINCIPAL = 3;
    static final SocketAddress ATTACKER = new InetSocketAddress("203.0.113.7", 40000);
    static final SocketAddress CI_EGRESS = new InetSocketAddress("198.51.100.20", 40000);

    @TempDir
    Path dir;

    final AtomicLong nanos = new AtomicLong();
    /** Statements that look a token up by its hash. */
    final AtomicInteger tokenLookups = new AtomicInteger();

    ControlPlaneFixture f;
    AgentTokens tokens;
    String token;

    @BeforeEach
    void start() {
        f = ControlPlaneFixture.open(
                StoreConfig.embedded(dir),
                new AuthFailures(
                        new AuthFailures.Limits(PER_SOURCE, PER_PRINCIPAL, Duration.ofMinutes(1), 1000), nanos::get));
        Principal acme = f.as(f.account("acme"));
        tokens = f.cp.agentTokens();
        token = tokens.create(acme, new AgentTokens.CreateRequest("edge", null)).token();
        f.store.jdbi().setSqlLogger(new SqlLogger() {
            @Override
            public void logBeforeExecution(StatementContext context) {
                if (context.getRenderedSql().contains("where t.secret_sha256 =")) {
                    tokenLookups.incrementAndGet();
                }
            }
        });
    }

    @AfterEach
    void stop() {
        f.close();
    }

    @Test
    void theCorrectTokenWorksWhileItsPrefixIsOverTheLimitAndWrongOnesGet429() {
        String prefix = Secrets.shownPrefix(token);
        for (int i = 0; i < PER_PRINCIPAL; i++) { // the prefix is shown in token lists and log lines
            assertThat(tokens.verify(guess(prefix), ATTACKER)).as("guess %d", i).isEmpty();
        }
        assertThatThrownBy(() -> tokens.verify(guess(prefix), ATTACKER)).isInstanceOfSatisfying(Refused.class, e -> {
            assertThat(status(e)).isEqualTo(429);
            assertThat(ProblemMapper.headers(e)).containsEntry("retry-after", "20");
            assertThat(e.getMessage())
                    .isEqualTo("too many failed authentication attempts with agent token " + prefix + " (at most "
                            + PER_PRINCIPAL + " per 60 s); retry in 20 s");
        });

        assertThat(tokens.verify(token, CI_EGRESS))
                .as("the agent's own token, from its own address")
                .hasValueSatisfying(id -> assertThat(id.account()).isEqualTo("acme"));
        assertThat(tokens.verify(token, ATTACKER))
                .as("and even from the attacker's")
                .isPresent();
    }

    @Test
    void theCorrectTokenWorksFromASourceOverTheLimitAndAWrongOneRetriedIsLookedUpOnce() {
        for (int i = 0; i < PER_SOURCE; i++) { // one broken agent behind a shared egress address
            assertThat(tokens.verify(Secrets.agentToken(), CI_EGRESS)).isEmpty();
        }
        String wrong = Secrets.agentToken();
        int before = tokenLookups.get();
        for (int i = 0; i < 5; i++) {
            assertThatThrownBy(() -> tokens.verify(wrong, CI_EGRESS))
                    .as("try %d", i)
                    .isInstanceOfSatisfying(
                            Refused.class, e -> assertThat(status(e)).isEqualTo(429));
        }
        assertThat(tokenLookups.get() - before)
                .as("store lookups for five tries of one wrong token")
                .isEqualTo(1);

        assertThat(tokens.verify(token, CI_EGRESS))
                .as("another agent's correct token from the same address")
                .isPresent();
        assertThat(tokens.verify(Secrets.agentToken(), new InetSocketAddress("192.0.2.1", 1)))
                .as("another source")
                .isEmpty();
    }

    private static String guess(String prefix) {
        return prefix + Secrets.agentToken().substring(Secrets.SHOWN_PREFIX_LENGTH);
    }
}
