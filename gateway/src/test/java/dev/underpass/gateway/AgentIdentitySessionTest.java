package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.credential.AgentIdentities;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.gateway.AgentLinks.Stream;
import dev.underpass.gateway.auth.OidcIssuer;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.Protocol;
import dev.underpass.testkit.OidcIssuerServer;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Agents authenticating with OIDC workload identity on the real agent port (TLS 1.3, HTTP/2):
 * a gateway configured to trust a test issuer (discovery and JWKS on loopback) opens a session
 * for a valid JWT naming an agent identity, refuses bad ones with a 401 and one log line, and
 * ends the live session when the identity is deleted.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class AgentIdentitySessionTest {
    static final Duration WAIT = Duration.ofSeconds(20);
    static final String SUBJECT = "system:serviceaccount:edge:agent";

    @TempDir
    Path dir;
    /** The clock of the limits on failed authentication: it stands still. */
    final AtomicLong nanos = new AtomicLong();

    OidcIssuerServer issuer;
    Gateway gateway;
    Principal acme;
    AgentIdentities.View identity;
    EventLoopGroup group;
    ListAppender<ILoggingEvent> logged;
    Logger sessionLog;

    @BeforeEach
    void start() throws Exception {
        issuer = new OidcIssuerServer();
        gateway = AgentLinks.start(
                dir, """
                oidcIssuers:
                  - issuer: %s
                """.formatted(issuer.issuer()), new AuthFailures(AuthFailures.Limits.DEFAULTS, nanos::get));
        ControlPlane cp = gateway.controlPlane();
        acme = AgentLinks.account(cp, AgentLinks.operator(cp, dir.resolve("data")), "acme");
        identity = cp.agentIdentities()
                .create(acme, new AgentIdentities.CreateRequest("edge", issuer.issuer(), SUBJECT, Map.of()));
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        sessionLog = (Logger) LoggerFactory.getLogger("underpass.gateway.sessions");
        logged = new ListAppender<>();
        logged.start();
        sessionLog.addAppender(logged);
    }

    @AfterEach
    void stop() throws Exception {
        sessionLog.detachAppender(logged);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        gateway.close();
        issuer.close();
    }

    private Channel connect() throws Exception {
        return AgentLinks.connect(group, gateway);
    }

    /** Opens a session stream on {@code link} with {@code jwt} and, unless null, the identity header. */
    private static Stream openSession(Channel link, String jwt, String identityId) throws Exception {
        Http2Headers h = AgentLinks.sessionHeaders("Bearer " + jwt, "2, 1");
        if (identityId != null) {
            h.set(Protocol.HEADER_IDENTITY, identityId);
        }
        h.set(Protocol.HEADER_AGENT, "oidc-test");
        return AgentLinks.open(link, h, false);
    }

    private List<String> refusalLines() {
        return logged.list.stream()
                .map(ILoggingEvent::getFormattedMessage)
                .filter(m -> m.contains("refused"))
                .toList();
    }

    @Test
    void aValidJwtOpensASessionThatOutlivesTokenChecksAndEndsWhenTheIdentityIsDeleted() throws Exception {
        Channel link = connect();
        Stream session = openSession(link, issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        Http2HeadersFrame ok = session.headers();
        assertThat(ok.headers().status().toString()).isEqualTo("200");
        assertThat(ok.headers().get(Protocol.HEADER_ACCOUNT).toString()).isEqualTo("acme");
        session.send(new ControlMessage.Advertise("test", List.of("127.0.0.1:7")));
        assertThat(logged.list.stream().map(ILoggingEvent::getFormattedMessage))
                .anySatisfy(m -> assertThat(m)
                        .contains("established")
                        .contains("account=acme")
                        .contains("agent identity edge " + identity.id()));
        AgentIdentities.View listed = gateway.controlPlane()
                .agentIdentities()
                .list(acme, dev.underpass.controlplane.core.Page.Request.of(null, null))
                .items()
                .getFirst();
        assertThat(listed.lastUsedAt()).as("last used").isNotNull();

        // The periodic check of agent tokens' expiry leaves identities' sessions alone.
        long until = System.nanoTime()
                + Duration.ofSeconds(Gateway.TOKEN_CHECK_SECONDS + 3).toNanos();
        while (System.nanoTime() < until) {
            link.writeAndFlush(new DefaultHttp2PingFrame(1)).sync(); // heartbeats, as an agent sends
            assertThat(link.closeFuture().await(500))
                    .as("link closed by the token check")
                    .isFalse();
        }

        gateway.controlPlane().agentIdentities().delete(acme, identity.id());
        assertThat(link.closeFuture().await(WAIT.toMillis()))
                .as("the live link closed")
                .isTrue();
        assertThat(logged.list.stream().map(ILoggingEvent::getFormattedMessage))
                .anySatisfy(m -> assertThat(m).contains("ended: its agent identity was deleted"));
        Stream again = openSession(connect(), issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(again.status()).isEqualTo("401");
        assertThat(again.body()).contains("unknown identity: no agent identity " + identity.id());
    }

    @Test
    void aBadJwtIsRefusedWithA401AndOneLogLineNamingSourceIdentityIssuerAndReason() throws Exception {
        String jwt = issuer.token(SUBJECT, "kubernetes");
        Channel link = connect();
        Stream session = openSession(link, jwt, identity.id());
        assertThat(session.status()).isEqualTo("401");
        String detail = session.body();
        assertThat(detail)
                .contains("OIDC token of identity " + identity.id() + " (issuer " + issuer.issuer()
                        + ") refused: wrong audience: aud [kubernetes] (expected to contain: underpass)")
                .doesNotContain(jwt);
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();

        assertThat(refusalLines())
                .singleElement()
                .satisfies(line -> assertThat(line)
                        .contains("agent link from /127.0.0.1:")
                        .contains(identity.id())
                        .contains(issuer.issuer())
                        .contains("wrong audience")
                        .doesNotContain(jwt)
                        .doesNotContain(jwt.substring(jwt.lastIndexOf('.') + 1)));
    }

    @Test
    void aJwtWithoutItsIdentityIsRefusedNamingTheHeader() throws Exception {
        Stream session = openSession(connect(), issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), null);
        assertThat(session.status()).isEqualTo("401");
        assertThat(session.body()).contains("needs header underpass-identity: wid-...");
        Stream malformed = openSession(connect(), issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), "edge-forged");
        assertThat(malformed.status()).isEqualTo("401");
        assertThat(malformed.body()).contains("is not an agent identity id (expected: wid- and 16 hex digits)");
    }

    @Test
    void forgedAndMalformedJwtsNamingAnIdentityDoNotLockOutItsAgents() throws Exception {
        // The id is not secret: JWTs whose signature does not verify count for their source only.
        int attempts = 2 * AuthFailures.Limits.DEFAULTS.perPrincipal();
        assertThat(attempts).as("below the per-source limit").isLessThan(AuthFailures.Limits.DEFAULTS.perSource());
        for (int i = 0; i < attempts; i++) {
            String bad = i % 2 == 0
                    ? "not-a-jwt"
                    : OidcIssuerServer.sign(
                            issuer.claims(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE, b -> {}),
                            OidcIssuerServer.newKey(issuer.key().getKeyID()));
            Stream refused = openSession(connect(), bad, identity.id());
            assertThat(refused.status()).as("attempt %d", i).isEqualTo("401");
            assertThat(refused.body()).containsAnyOf("malformed token", "bad signature");
        }
        Stream real = openSession(connect(), issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(real.status()).as("the identity's own agent").isEqualTo("200");
    }

    @Test
    void repeatedFailuresForAnIdentityGet429WhileItsOwnAgentStillOpensItsSession() throws Exception {
        int limit = AuthFailures.Limits.DEFAULTS.perPrincipal();
        for (int i = 0; i < limit; i++) {
            assertThat(openSession(connect(), issuer.token("someone-else", OidcIssuer.DEFAULT_AUDIENCE), identity.id())
                            .status())
                    .as("attempt %d", i)
                    .isEqualTo("401");
        }
        Stream limited =
                openSession(connect(), issuer.token("someone-else", OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(limited.status()).isEqualTo("429");
        assertThat(limited.body())
                .contains("too many failed authentication attempts with agent identity " + identity.id());
        Stream real = openSession(connect(), issuer.token(SUBJECT, OidcIssuer.DEFAULT_AUDIENCE), identity.id());
        assertThat(real.status())
                .as("the identity's own agent is checked and accepted")
                .isEqualTo("200");
    }
}
