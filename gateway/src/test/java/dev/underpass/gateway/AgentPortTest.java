package dev.underpass.gateway;

import static dev.underpass.gateway.AgentLinks.open;
import static dev.underpass.gateway.AgentLinks.stream;
import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.ServiceHealth;
import dev.underpass.controlplane.service.Services;
import dev.underpass.gateway.AgentLinks.Stream;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
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

/**
 * The gateway's agent port spoken to directly, as a second implementation of the agent would
 * (docs/protocol.md): what it accepts, what it refuses, and how it carries a connection.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class AgentPortTest {
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;
    /** The clock of the limits on failed authentication: it stands still unless a test moves it. */
    final AtomicLong nanos = new AtomicLong();

    Gateway gateway;
    ServerSocket target;
    String token;
    String tokenId;
    Principal provider;
    int endpointPort;
    String endpointId;
    String platformToken;
    EventLoopGroup group;
    final List<Socket> consumers = new java.util.ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        target = new ServerSocket(0); // only its address matters: the test plays the agent
        String targetAddress = "127.0.0.1:" + target.getLocalPort();
        gateway = AgentLinks.start(dir, new AuthFailures(AuthFailures.Limits.DEFAULTS, nanos::get));
        // Through the control plane, as the API would: acme publishes, platform connects.
        ControlPlane cp = gateway.controlPlane();
        Principal operator = AgentLinks.operator(cp, dir);
        Principal acme = AgentLinks.account(cp, operator, "acme");
        Principal platform = AgentLinks.account(cp, operator, "platform");
        AgentTokens.Created created = cp.agentTokens().create(acme, new AgentTokens.CreateRequest("t", null));
        token = created.token();
        tokenId = created.agentToken().id();
        provider = acme;
        cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "svc",
                                null,
                                List.of(new Services.Listener("tcp", 7, List.of(targetAddress))),
                                List.of("platform"),
                                false,
                                null));
        String id = cp.endpoints()
                .create(platform, new Endpoints.CreateRequest("acme/svc"))
                .id();
        endpointId = id;
        platformToken = cp.agentTokens()
                .create(platform, new AgentTokens.CreateRequest("p", null))
                .token();
        endpointPort =
                AgentLinks.awaitAvailable(cp, platform, id).ports().getFirst().gatewayPort();
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterEach
    void stop() throws Exception {
        for (Socket c : consumers) {
            c.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        gateway.close();
        target.close();
    }

    private Channel connect() throws Exception {
        return AgentLinks.connect(group, gateway);
    }

    private Http2Headers sessionHeaders(String version) {
        return AgentLinks.sessionHeaders("bearer " + token, version); // the scheme is case-insensitive
    }

    @Test
    void aDataStreamBeforeASessionIsRefusedAndTheLinkClosed() throws Exception {
        Channel link = connect();
        Http2Headers h = new DefaultHttp2Headers()
                .method("POST")
                .path(Protocol.STREAM_PATH)
                .scheme("https");
        h.set(Protocol.HEADER_CONNECTION_ID, "1");
        Stream s = open(link, h, false);
        assertThat(s.headers().headers().status().toString()).isEqualTo("401");
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();
    }

    @Test
    void aThousandStreamsBeforeASessionEndTheLinkAtTheSecond() throws Exception {
        // Issue 12: a thousand streams opened before a session got neither a 401 nor a close within 3 s. The first
        // stream here is an enrollment whose body never comes, so it holds the link's one stream before a session:
        // before the fix, each session request after it got a 409 and the link stayed open until the heartbeat timeout.
        Channel link = connect();
        open(
                link,
                AgentLinks.post(dev.underpass.protocol.Enrollment.PATH)
                        .set("authorization", "Bearer upe_" + "x".repeat(43)),
                false);
        int opened = 0;
        try {
            for (; opened < 1000 && link.isActive(); opened++) {
                stream(link)
                        .channel()
                        .writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2HeadersFrame(
                                AgentLinks.sessionHeaders("Bearer upa_" + "x".repeat(43), "2, 1"), false));
            }
        } catch (Exception e) { // sync() throws it undeclared
            if (!(e instanceof java.nio.channels.ClosedChannelException)) {
                throw e;
            }
            // the gateway ended the link while the client was still opening streams: what this test wants
        }
        // Far below the heartbeat timeout, which would end the link anyway.
        assertThat(link.closeFuture().await(5_000))
                .as("link closed after %d streams", opened)
                .isTrue();
    }

    @Test
    void anotherProtocolVersionIsRefusedNamingBothVersions() throws Exception {
        Channel link = connect();
        Stream s = open(link, sessionHeaders("99"), false);
        assertThat(s.headers().headers().status().toString()).isEqualTo("426");
        Object body = s.frames().poll(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat((String) body).contains("agent speaks underpass-protocol 99, gateway speaks 3, 2, 1");
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();
    }

    @Test
    void aConsumerConnectionBecomesAnOpenAndTheDataStreamCarriesItsHalfClose() throws Exception {
        Channel link = connect();
        Stream session = open(link, sessionHeaders("1"), false);
        Http2HeadersFrame ok = session.headers();
        assertThat(ok.headers().status().toString()).isEqualTo("200");
        assertThat(ok.headers().get(Protocol.HEADER_ACCOUNT).toString()).isEqualTo("acme");
        // Blank lines are ignored; then the targets this "agent" serves.
        session.channel()
                .writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("\n\n", StandardCharsets.UTF_8)))
                .sync();
        session.send(new ControlMessage.Advertise("test", List.of("127.0.0.1:" + target.getLocalPort())));

        ControlMessage.Open open = null;
        Socket consumer = null;
        for (int attempt = 0; attempt < 40 && open == null; attempt++) {
            // Until the advertise is processed the gateway refuses consumers: retry, bounded, and
            // keep the link alive with a PING as an agent's heartbeat would.
            link.writeAndFlush(new DefaultHttp2PingFrame(attempt)).sync();
            consumer = new Socket("127.0.0.1", endpointPort);
            consumer.setSoTimeout((int) WAIT.toMillis());
            try {
                ControlMessage m = session.nextMessage(Duration.ofMillis(250));
                open = (ControlMessage.Open) m;
            } catch (AssertionError notYet) {
                consumer.close();
            }
        }
        assertThat(open).as("open message").isNotNull();
        assertThat(open.target()).isEqualTo("127.0.0.1:" + target.getLocalPort());

        // The target "closed at once": request headers with END_STREAM. The consumer sees a FIN.
        Stream data = open(link, AgentLinks.dataStreamHeaders(open.connection()), true);
        assertThat(data.headers().headers().status().toString()).isEqualTo("200");
        try (Socket c = consumer) {
            assertThat(c.getInputStream().read()).as("clean end of stream").isEqualTo(-1);
            c.getOutputStream().write("still writable".getBytes(StandardCharsets.US_ASCII));
            c.getOutputStream().flush();
            c.shutdownOutput();
            // The consumer's bytes and FIN arrive on the data stream.
            StringBuilder got = new StringBuilder();
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!got.toString().contains("still writable") && System.nanoTime() < deadline) {
                Object f = data.frames().poll(100, TimeUnit.MILLISECONDS);
                if (f instanceof String s) {
                    got.append(s);
                }
            }
            assertThat(got.toString()).isEqualTo("still writable");
        }
    }

    @Test
    void aMalformedControlMessageEndsTheLink() throws Exception {
        Channel link = connect();
        Stream session = open(link, sessionHeaders("1"), false);
        assertThat(session.headers().headers().status().toString()).isEqualTo("200");
        ByteBuf junk = Unpooled.copiedBuffer(
                "{\"type\":\"open\",\"connection\":\"7\",\"target\":\"x:1\"}\n", StandardCharsets.UTF_8);
        session.channel().writeAndFlush(new DefaultHttp2DataFrame(junk)).sync();
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();
    }

    @Test
    void aWrongTokenIsRefusedWith401AndTheLinkClosed() throws Exception {
        Channel link = connect();
        Http2Headers h = sessionHeaders("1");
        h.set("authorization", "Bearer upa_wrong");
        Stream s = open(link, h, false);
        assertThat(s.headers().headers().status().toString()).isEqualTo("401");
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();
    }

    @Test
    void tooManyBadTokensWithOnePrefixGet429WithRetryAfterWhileTheRealTokenStillOpensItsSession() throws Exception {
        String prefix = Secrets.shownPrefix(token);
        int limit = AuthFailures.Limits.DEFAULTS.perPrincipal();
        for (int i = 0; i < limit; i++) { // the token's prefix with a guessed rest
            Channel link = connect();
            Http2Headers h = sessionHeaders("2");
            h.set("authorization", "Bearer " + guess(prefix));
            assertThat(open(link, h, false).headers().headers().status().toString())
                    .as("guess %d", i)
                    .isEqualTo("401");
            assertThat(link.closeFuture().await(WAIT.toMillis()))
                    .as("link closed")
                    .isTrue();
        }

        // Over the limit, a wrong token gets the time to wait.
        Channel link = connect();
        Http2Headers h = sessionHeaders("2");
        String guess = guess(prefix);
        h.set("authorization", "Bearer " + guess);
        Stream refused = open(link, h, false);
        Http2Headers answer = refused.headers().headers();
        assertThat(answer.status().toString()).isEqualTo("429");
        assertThat(answer.get("retry-after").toString()).isEqualTo("12");
        assertThat(answer.get("content-type").toString()).isEqualTo(Protocol.CONTENT_TYPE_PROBLEM.toString());
        assertThat((String) refused.frames().poll(WAIT.toSeconds(), TimeUnit.SECONDS))
                .contains(
                        "\"status\":429",
                        "too many failed authentication attempts with agent token " + prefix + " (at most " + limit
                                + " per 60 s); retry in 12 s")
                .doesNotContain(guess.substring(Secrets.SHOWN_PREFIX_LENGTH));
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();

        // The real token is checked and opens its session, from the same address: no lockout by others' failures.
        Stream session = open(connect(), sessionHeaders("2"), false);
        assertThat(session.headers().headers().status().toString()).isEqualTo("200");
    }

    @Test
    void aSecretInWhatTheAgentSentIsMaskedInTheProblemDetail() throws Exception {
        Channel link = registeredSession();
        String secret = Secrets.apiKey();
        Stream s = open(link, AgentLinks.post("/" + secret), false);
        assertThat(s.headers().headers().status().toString()).isEqualTo("404");
        assertThat((String) s.frames().poll(WAIT.toSeconds(), TimeUnit.SECONDS))
                .contains("path /upk_****")
                .doesNotContain(secret.substring(Secrets.SHOWN_PREFIX_LENGTH));
    }

    private static String guess(String prefix) {
        return prefix + Secrets.agentToken().substring(Secrets.SHOWN_PREFIX_LENGTH);
    }

    @Test
    void revokingTheAgentTokenEndsItsLiveSessionAndRefusesTheNextOne() throws Exception {
        Channel link = registeredSession();

        gateway.controlPlane().agentTokens().revoke(provider, tokenId);

        assertThat(link.closeFuture().await(WAIT.toMillis()))
                .as("the live link closed")
                .isTrue();
        Channel again = connect();
        Stream refused = open(again, sessionHeaders("1"), false);
        assertThat(refused.headers().headers().status().toString()).isEqualTo("401");
    }

    @Test
    void aSessionEndsWhenItsRotatedTokenStopsWorking() throws Exception {
        Channel link = registeredSession();

        gateway.controlPlane().agentTokens().rotate(provider, tokenId, new ApiKeys.RotateRequest(0L));

        assertThat(link.closeFuture().await(Gateway.TOKEN_CHECK_SECONDS * 3, TimeUnit.SECONDS))
                .as("the link closed within a few token checks")
                .isTrue();
    }

    @Test
    void agentListenersOpenOnlyForTheConsumerAccountAndConnectStreamsAreChecked() throws Exception {
        ControlMessage.Listener declared = new ControlMessage.Listener("10.0.0.5:7", endpointId, 7, null, null);
        // The consumer's agent: its listener may take connections.
        Channel consumerLink = connect();
        Stream consumer = open(consumerLink, AgentLinks.sessionHeaders("Bearer " + platformToken, "3"), false);
        assertThat(consumer.status()).isEqualTo("200");
        consumer.send(new ControlMessage.Advertise("test", List.of(), List.of(declared)));
        assertThat(consumer.nextMessage(WAIT))
                .isEqualTo(new ControlMessage.Listeners(
                        List.of(new ControlMessage.Listener("10.0.0.5:7", endpointId, 7, true, null))));
        // A connect stream for a listener it did not advertise: 403.
        Http2Headers other = AgentLinks.post(Protocol.CONNECT_PATH);
        other.set(Protocol.HEADER_ENDPOINT, endpointId);
        other.set(Protocol.HEADER_SERVICE_PORT, "8");
        assertThat(open(consumerLink, other, false).status()).isEqualTo("403");

        // The provider's agent names the same endpoint: closed, in words that say nothing of it.
        Channel providerLink = connect();
        Stream provider = open(providerLink, sessionHeaders("3"), false);
        assertThat(provider.status()).isEqualTo("200");
        provider.send(new ControlMessage.Advertise("test", List.of(), List.of(declared)));
        String notAvailable = "endpoint " + endpointId + " of account acme has no available service port 7";
        assertThat(provider.nextMessage(WAIT))
                .isEqualTo(new ControlMessage.Listeners(
                        List.of(new ControlMessage.Listener("10.0.0.5:7", endpointId, 7, false, notAvailable))));
        Http2Headers h = AgentLinks.post(Protocol.CONNECT_PATH);
        h.set(Protocol.HEADER_ENDPOINT, endpointId);
        h.set(Protocol.HEADER_SERVICE_PORT, "7");
        Stream refused = open(providerLink, h, false);
        assertThat(refused.status()).isEqualTo("404");
        assertThat(refused.body()).contains(notAvailable);

        // A version-2 session has no connect streams.
        Channel v2 = connect();
        assertThat(open(v2, sessionHeaders("2"), false).status()).isEqualTo("200");
        assertThat(open(v2, h, false).status()).isEqualTo("400");
    }

    @Test
    void theHighestVersionBothSpeakIsChosenAndNamedInTheAnswer() throws Exception {
        Stream v3 = open(connect(), sessionHeaders("4, 3, 2, 1"), false);
        assertThat(v3.headers().headers().get(Protocol.HEADER_PROTOCOL).toString())
                .isEqualTo("3");
        Stream v2 = open(connect(), sessionHeaders("2, 1"), false);
        assertThat(v2.headers().headers().get(Protocol.HEADER_PROTOCOL).toString())
                .isEqualTo("2");
        Stream v1 = open(connect(), sessionHeaders("1"), false);
        assertThat(v1.headers().headers().get(Protocol.HEADER_PROTOCOL).toString())
                .isEqualTo("1");
    }

    @Test
    void aVersion2MessageOnAVersion1SessionEndsTheLink() throws Exception {
        Channel link = connect();
        Stream session = open(link, sessionHeaders("1"), false);
        assertThat(session.headers().headers().status().toString()).isEqualTo("200");
        session.send(new ControlMessage.Drain(null));
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();
    }

    @Test
    void connectionsAvoidATargetItsAgentReportsUnhealthyAndFailOpenWhenAllAre() throws Exception {
        String check = "svc:7/127.0.0.1:" + target.getLocalPort();
        Agent a = agent("a");
        Agent b = agent("b");
        for (Agent x : List.of(a, b)) {
            ControlMessage.HealthChecks checks = (ControlMessage.HealthChecks) x.session.nextMessage(WAIT);
            assertThat(checks.checks()).singleElement().satisfies(c -> {
                assertThat(c.id()).isEqualTo(check);
                assertThat(c.protocol()).isEqualTo("tcp");
                assertThat(c.intervalMillis()).isEqualTo(10_000);
            });
        }
        a.session.send(new ControlMessage.Health(check, false, "REFUSED: test"));
        b.session.send(new ControlMessage.Health(check, true, "TCP connect succeeded"));
        awaitStates(Map.of("a", "unhealthy", "b", "healthy"));

        for (int i = 0; i < 4; i++) {
            assertThat(routedTo(a, b)).as("connection %d", i).isSameAs(b);
        }

        // Every agent finds the target unhealthy: the service fails open (the default).
        b.session.send(new ControlMessage.Health(check, false, "REFUSED: test"));
        awaitStates(Map.of("a", "unhealthy", "b", "unhealthy"));
        assertThat(routedTo(a, b)).as("still routed: the service fails open").isIn(a, b);
    }

    @Test
    void aServiceThatFailsClosedRefusesConnectionsWhenEveryTargetIsUnhealthy() throws Exception {
        gateway.controlPlane()
                .services()
                .update(provider, "svc", new Services.UpdateRequest(null, null, null, null, null, null, "failClosed"));
        String check = "svc:7/127.0.0.1:" + target.getLocalPort();
        Agent a = agent("a");
        a.session.nextMessage(WAIT);
        a.session.send(new ControlMessage.Health(check, false, "REFUSED: test"));
        awaitStates(Map.of("a", "unhealthy"));

        boolean refused = false;
        for (int attempt = 0; attempt < 100 && !refused; attempt++) { // until the route has the new policy
            try (Socket consumer = new Socket("127.0.0.1", endpointPort)) {
                consumer.setSoTimeout((int) WAIT.toMillis());
                consumer.getInputStream().read();
                throw new AssertionError("a refused connection ends with a reset, not a clean end");
            } catch (java.net.SocketException reset) {
                refused = true;
                try {
                    ControlMessage m = a.session.nextMessage(Duration.ofMillis(200));
                    refused = !(m instanceof ControlMessage.Open); // an open means the old policy still held
                } catch (AssertionError noOpen) {
                    // as expected: the agent was never asked
                }
            }
        }
        assertThat(refused).as("reset without asking the agent").isTrue();
    }

    @Test
    void newConnectionsGoToTheSessionWithFewestOutstandingAndNeverToADrainingOne() throws Exception {
        Agent a = agent("a");
        a.session.nextMessage(WAIT); // its health checks
        // Opens left unanswered stay outstanding (until the gateway's dial timeout): a carries 2.
        assertThat(routedTo(a)).isSameAs(a);
        assertThat(routedTo(a)).isSameAs(a);
        Agent b = agent("b");
        b.session.nextMessage(WAIT);
        // Least outstanding sends the next two to b (round robin would alternate).
        assertThat(routedTo(a, b)).isSameAs(b);
        assertThat(routedTo(a, b)).isSameAs(b);

        b.session.send(new ControlMessage.Drain("test"));
        assertThat(b.session.nextMessage(WAIT)).isEqualTo(new ControlMessage.Draining());
        for (int i = 0; i < 3; i++) {
            assertThat(routedTo(a, b)).as("connection %d after b's drain", i).isSameAs(a);
        }
    }

    /** A version-2 agent of the test: its link and session stream, advertising the target. */
    private record Agent(String name, Channel link, Stream session) {}

    private Agent agent(String name) throws Exception {
        Channel link = connect();
        Http2Headers h = sessionHeaders("2, 1");
        h.set(Protocol.HEADER_AGENT, name);
        Stream session = open(link, h, false);
        assertThat(session.headers().headers().status().toString()).isEqualTo("200");
        session.send(new ControlMessage.Advertise("test", List.of("127.0.0.1:" + target.getLocalPort())));
        return new Agent(name, link, session);
    }

    /** Which agent gets the open for one new consumer connection (its socket stays open). */
    private Agent routedTo(Agent... agents) throws Exception {
        consumers.add(new Socket("127.0.0.1", endpointPort));
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            for (Agent x : agents) {
                x.link.writeAndFlush(new DefaultHttp2PingFrame(1)); // a heartbeat, as an agent sends
                try {
                    if (x.session.nextMessage(Duration.ofMillis(100)) instanceof ControlMessage.Open) {
                        return x;
                    }
                } catch (AssertionError nothingYet) {
                    // the other one, then again
                }
            }
        }
        throw new AssertionError("no agent got the connection within " + WAIT);
    }

    /** Waits until the service's health shows each agent's verdict on the target, as the API would. */
    private void awaitStates(Map<String, String> byAgent) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Map<String, String> seen = Map.of();
        while (System.nanoTime() < deadline) {
            ServiceHealth h = gateway.controlPlane()
                    .services()
                    .health(provider, "svc", gateway.controlPlane().healthReports());
            seen = new java.util.HashMap<>();
            for (HealthReports.Report r : h.targets().getFirst().agents()) {
                seen.put(r.agent(), r.state().text());
            }
            if (seen.equals(byAgent)) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("agents' verdicts " + seen + " (expected: " + byAgent + ")");
    }

    /** A link whose session has advertised the target and is registered for consumer connections. */
    private Channel registeredSession() throws Exception {
        Channel link = connect();
        Stream session = open(link, sessionHeaders("1"), false);
        assertThat(session.headers().headers().status().toString()).isEqualTo("200");
        session.send(new ControlMessage.Advertise("test", List.of("127.0.0.1:" + target.getLocalPort())));
        // Wait until the session is registered: an endpoint connection then becomes an open.
        boolean registered = false;
        for (int attempt = 0; attempt < 40 && !registered; attempt++) {
            try (Socket consumer = new Socket("127.0.0.1", endpointPort)) {
                registered = session.nextMessage(Duration.ofMillis(250)) instanceof ControlMessage.Open;
            } catch (AssertionError notYet) {
                // refused before the advertise was read; try again
            }
        }
        assertThat(registered).as("session registered").isTrue();
        return link;
    }
}
