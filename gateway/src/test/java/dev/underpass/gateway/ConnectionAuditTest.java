package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.audit.AuditChain;
import dev.underpass.controlplane.audit.AuditEvents;
import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.audit.AuditRecord;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.store.Store;
import dev.underpass.gateway.AgentLinks.Stream;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Audit records of consumer connections through a real gateway, with the test playing the
 * provider's agent (version 1: an open, then a data stream that sends back every byte twice, so
 * that the two directions' counts differ): a connection on the endpoint port and one through
 * the HTTP proxy each leave one record in the consumer's and the provider's chains with the
 * right bytes and outcome; a proxy request refused to an authenticated consumer leaves a refused
 * record, an unauthenticated one none; records queued at shutdown are written, and the chains'
 * heads logged.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ConnectionAuditTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    Gateway gateway;
    ControlPlane cp;
    ServerSocket target;
    EventLoopGroup group;
    Principal acme;
    Principal platform;
    String platformKey;
    String endpointId;
    String endpointName;
    int endpointPort;
    Channel link;
    Stream session;
    final ListAppender<ILoggingEvent> auditLog = new ListAppender<>();

    @BeforeEach
    void start() throws Exception {
        auditLog.start();
        ((Logger) LoggerFactory.getLogger("underpass.gateway.audit")).addAppender(auditLog);
        target = new ServerSocket(0); // only its address matters: the test plays the agent
        gateway = AgentLinks.start(dir, new AuthFailures());
        cp = gateway.controlPlane();
        Principal operator = AgentLinks.operator(cp, dir);
        acme = AgentLinks.account(cp, operator, "acme");
        platformKey = AgentLinks.accountKey(cp, operator, "platform");
        platform = cp.apiKeys().authenticate(platformKey);
        AgentTokens.Created token = cp.agentTokens().create(acme, new AgentTokens.CreateRequest("t", null));
        cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "svc",
                                null,
                                List.of(new Services.Listener("tcp", 7, List.of("127.0.0.1:" + target.getLocalPort()))),
                                List.of("platform"),
                                false,
                                null));
        endpointId = cp.endpoints()
                .create(platform, new Endpoints.CreateRequest("acme/svc"))
                .id();
        Endpoints.View available = AgentLinks.awaitAvailable(cp, platform, endpointId);
        endpointPort = available.ports().getFirst().gatewayPort();
        endpointName = available.dnsNames().getFirst();
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        link = AgentLinks.connect(group, gateway);
        session = AgentLinks.open(link, AgentLinks.sessionHeaders("Bearer " + token.token(), "1"), false);
        assertThat(((DefaultHttp2HeadersFrame) session.frames().poll(WAIT.toSeconds(), TimeUnit.SECONDS))
                        .headers()
                        .status()
                        .toString())
                .isEqualTo("200");
        session.send(new ControlMessage.Advertise("test", List.of("127.0.0.1:" + target.getLocalPort())));
    }

    @AfterEach
    void stop() throws Exception {
        ((Logger) LoggerFactory.getLogger("underpass.gateway.audit")).detachAppender(auditLog);
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (gateway != null) {
            gateway.close();
        }
        target.close();
    }

    @Test
    void aConnectionOnTheEndpointPortLeavesOneRecordInEachChainWithItsBytes() throws Exception {
        int consumerBefore = chain(platform).size();
        int providerBefore = chain(acme).size();
        byte[] payload = bytes(1000);
        Socket consumer = null;
        for (int attempt = 0; attempt < 40 && consumer == null; attempt++) {
            // Until the advertise is processed the gateway refuses consumers (and records those refusals).
            Socket s = new Socket("127.0.0.1", endpointPort);
            s.setSoTimeout((int) WAIT.toMillis());
            if (serve(Duration.ofMillis(250))) {
                consumer = s;
            } else {
                s.close();
            }
        }
        assertThat(consumer).as("the agent got the connection").isNotNull();
        String source;
        try (Socket c = consumer) {
            source = c.getLocalSocketAddress().toString();
            c.getOutputStream().write(payload);
            c.shutdownOutput();
            assertThat(c.getInputStream().readAllBytes()).as("every byte twice").hasSize(2 * payload.length);
        }
        AuditRecord mine = awaitConnection(platform, consumerBefore, "ok");
        JsonNode d = JSON.readTree(mine.details());
        assertThat(mine.actor()).isEqualTo("account platform");
        assertThat(mine.target()).isEqualTo("endpoint:" + endpointId);
        assertThat(d.get("via").asText()).isEqualTo("endpoint port");
        assertThat(d.get("service").asText()).isEqualTo("acme/svc");
        assertThat(d.get("port").asInt()).isEqualTo(7);
        assertThat(d.get("bytesToTarget").asLong()).isEqualTo(payload.length);
        assertThat(d.get("bytesToConsumer").asLong()).isEqualTo(2L * payload.length);
        assertThat(d.get("durationMillis").asLong()).isNotNegative();
        assertThat(d.get("end").asText()).isEqualTo("completed");
        assertThat(d.get("source").asText()).isEqualTo(source);
        // The provider's copy: the same event and bytes, without the consumer's address.
        AuditRecord theirs = awaitConnection(acme, providerBefore, "ok");
        assertThat(theirs.id()).isEqualTo(mine.id());
        assertThat(JSON.readTree(theirs.details()).get("bytesToConsumer").asLong())
                .isEqualTo(2L * payload.length);
        assertThat(theirs.details()).doesNotContain(source).doesNotContain("source");
        for (Principal p : List.of(platform, acme)) {
            assertThat(cp.audit().events().verify(p, null).valid()).isTrue();
        }
    }

    @Test
    void aConnectionThroughTheProxyNamesItsKeyAndARefusedRequestIsRecordedToo() throws Exception {
        String keyId = platform.keyId();
        int before = chain(platform).size();
        // Unauthenticated: refused, and in no chain; then authenticated but not an endpoint: refused and recorded.
        assertThat(proxy(null, "nowhere.example:443")).startsWith("HTTP/1.1 407");
        assertThat(proxy(platformKey, "nowhere.example:443")).startsWith("HTTP/1.1 403");
        AuditRecord refused = awaitConnection(platform, before, "refused: ");
        assertThat(refused.target()).isEqualTo("destination:nowhere.example:443");
        assertThat(refused.outcome()).contains("is not an available endpoint of account platform");
        assertThat(refused.actor()).isEqualTo(platform.actor());
        assertThat(JSON.readTree(refused.details()).get("apiKeyId").asText()).isEqualTo(keyId);
        assertThat(chain(platform)).as("only the authenticated refusal").hasSize(before + 1);

        int consumerBefore = chain(platform).size();
        int providerBefore = chain(acme).size();
        byte[] payload = bytes(700);
        try (Socket c = new Socket("127.0.0.1", gateway.proxyAddress().getPort())) {
            c.setSoTimeout((int) WAIT.toMillis());
            c.getOutputStream()
                    .write(("CONNECT " + endpointName + ":7 HTTP/1.1\r\nProxy-Authorization: Basic "
                                    + basic(platformKey) + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            String established = "HTTP/1.1 200 Connection established\r\n\r\n";
            assertThat(new String(c.getInputStream().readNBytes(established.length()), StandardCharsets.US_ASCII))
                    .isEqualTo(established);
            assertThat(serve(WAIT)).as("the agent got the connection").isTrue();
            c.getOutputStream().write(payload);
            c.shutdownOutput();
            assertThat(c.getInputStream().readAllBytes()).hasSize(2 * payload.length);
        }
        AuditRecord mine = awaitConnection(platform, consumerBefore, "ok");
        JsonNode d = JSON.readTree(mine.details());
        assertThat(mine.actor()).isEqualTo(platform.actor());
        assertThat(d.get("via").asText()).isEqualTo("HTTP proxy");
        assertThat(d.get("apiKeyId").asText()).isEqualTo(keyId);
        assertThat(d.get("bytesToTarget").asLong()).isEqualTo(payload.length);
        assertThat(d.get("bytesToConsumer").asLong()).isEqualTo(2L * payload.length);
        AuditRecord theirs = awaitConnection(acme, providerBefore, "ok");
        assertThat(theirs.actor()).isEqualTo("account platform");
        assertThat(theirs.details()).doesNotContain(keyId);

        // SOCKS5: user/password authentication with the key as the password, then CONNECT by name.
        consumerBefore = chain(platform).size();
        byte[] small = bytes(300);
        try (Socket c = new Socket("127.0.0.1", gateway.proxyAddress().getPort())) {
            c.setSoTimeout((int) WAIT.toMillis());
            var hello = new java.io.ByteArrayOutputStream();
            hello.write(new byte[] {5, 1, 2, 1, 2});
            hello.write("ci".getBytes(StandardCharsets.US_ASCII));
            hello.write(platformKey.length());
            hello.write(platformKey.getBytes(StandardCharsets.US_ASCII));
            c.getOutputStream().write(hello.toByteArray());
            assertThat(c.getInputStream().readNBytes(4))
                    .as("method, then authenticated")
                    .containsExactly(5, 2, 1, 0);
            byte[] host = endpointName.getBytes(StandardCharsets.US_ASCII);
            var connect = new java.io.ByteArrayOutputStream();
            connect.write(new byte[] {5, 1, 0, 3, (byte) host.length});
            connect.write(host);
            connect.write(new byte[] {0, 7});
            c.getOutputStream().write(connect.toByteArray());
            assertThat(c.getInputStream().readNBytes(2)).as("succeeded").containsExactly(5, 0);
            c.getInputStream().readNBytes(8); // reserved, IPv4 address type, bound address and port
            assertThat(serve(WAIT)).as("the agent got the connection").isTrue();
            c.getOutputStream().write(small);
            c.shutdownOutput();
            assertThat(c.getInputStream().readAllBytes()).hasSize(2 * small.length);
        }
        JsonNode socks =
                JSON.readTree(awaitConnection(platform, consumerBefore, "ok").details());
        assertThat(socks.get("via").asText()).isEqualTo("SOCKS5 proxy");
        assertThat(socks.get("apiKeyId").asText()).isEqualTo(keyId);
        assertThat(socks.get("bytesToTarget").asLong()).isEqualTo(small.length);
        assertThat(socks.get("bytesToConsumer").asLong()).isEqualTo(2L * small.length);
    }

    @Test
    void aRefusalOnAnEndpointPortTellsTheConsumerWhyButNotTheProvidersTargets() throws Exception {
        cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "dark",
                                null,
                                List.of(new Services.Listener("tcp", 9, List.of("dark.acme.internal:9"))),
                                List.of("platform"),
                                false,
                                null));
        String id = cp.endpoints()
                .create(platform, new Endpoints.CreateRequest("acme/dark"))
                .id();
        int port = 0;
        for (int i = 0; i < 200 && port == 0; i++) {
            Endpoints.View v = cp.endpoints().get(platform, id);
            if (v.state() == EndpointState.AVAILABLE) {
                port = v.ports().getFirst().gatewayPort();
            } else {
                Thread.sleep(50);
            }
        }
        int consumerBefore = chain(platform).size();
        int providerBefore = chain(acme).size();
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout((int) WAIT.toMillis());
            try {
                assertThat(s.getInputStream().read()).isEqualTo(-1);
            } catch (java.net.SocketException reset) {
                // a reset: what the gateway does when no agent serves the endpoint
            }
        }
        AuditRecord mine = awaitConnection(platform, consumerBefore, "refused: no_agent");
        assertThat(mine.target()).isEqualTo("endpoint:" + id);
        assertThat(mine.details()).doesNotContain("dark.acme.internal");
        AuditRecord theirs = awaitConnection(acme, providerBefore, "refused: no_agent");
        assertThat(JSON.readTree(theirs.details()).get("reason").asText()).contains("dark.acme.internal:9");
    }

    @Test
    void recordsQueuedAtShutdownAreWrittenAndTheHeadsLogged() throws Exception {
        int before = chain(platform).size();
        assertThat(proxy(platformKey, "nowhere.example:443")).startsWith("HTTP/1.1 403");
        gateway.close(); // at once: the record may still be queued
        gateway = null;
        try (Store store = Store.open(GatewayConfig.defaults().storeConfig(dir))) {
            AuditLog audit = new AuditLog(store.jdbi(), java.time.Clock.systemUTC());
            List<AuditChain.Verification> chains = audit.events().verifyAll();
            assertThat(chains).allSatisfy(v -> assertThat(v.valid()).isTrue());
            AuditChain.Verification mine = chains.stream()
                    .filter(v -> v.account().equals("platform"))
                    .findFirst()
                    .orElseThrow();
            assertThat(mine.records()).isEqualTo(before + 1);
            String heads = auditLog.list.stream()
                    .map(ILoggingEvent::getFormattedMessage)
                    .filter(m -> m.startsWith("audit heads: "))
                    .reduce((a, b) -> b)
                    .orElseThrow();
            assertThat(heads)
                    .contains(
                            "platform=" + mine.head().seq() + ":" + mine.head().hash())
                    .contains("operator=")
                    .contains("acme=");
        }
    }

    /** Plays the agent for the next open: a data stream that sends back every byte twice, then ends with the consumer. */
    private boolean serve(Duration wait) throws Exception {
        ControlMessage.Open open = null;
        long deadline = System.nanoTime() + wait.toNanos();
        StringBuilder line = new StringBuilder();
        while (open == null && System.nanoTime() < deadline) {
            link.writeAndFlush(new DefaultHttp2PingFrame(1)); // a heartbeat, as an agent sends
            Object f = session.frames().poll(50, TimeUnit.MILLISECONDS);
            if (f instanceof String s) {
                line.append(s);
                int nl = line.indexOf("\n");
                if (nl >= 0
                        && ControlCodec.decode(Unpooled.copiedBuffer(line.substring(0, nl), StandardCharsets.UTF_8))
                                instanceof ControlMessage.Open o) {
                    open = o;
                }
            }
        }
        if (open == null) {
            return false;
        }
        Http2StreamChannel data = AgentLinks.stream(link, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    if (msg instanceof Http2DataFrame d) {
                        if (d.content().isReadable()) {
                            ByteBuf twice = Unpooled.buffer(2 * d.content().readableBytes());
                            twice.writeBytes(d.content().duplicate()).writeBytes(d.content());
                            ctx.write(new DefaultHttp2DataFrame(twice));
                        }
                        if (d.isEndStream()) {
                            ctx.write(new DefaultHttp2DataFrame(true));
                        }
                        ctx.flush();
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }
        });
        data.writeAndFlush(new DefaultHttp2HeadersFrame(AgentLinks.dataStreamHeaders(open.connection()), false))
                .sync();
        return true;
    }

    /** Waits for the first connection record after {@code before} records of p's chain, with an outcome starting so. */
    private AuditRecord awaitConnection(Principal p, int before, String outcome) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            List<AuditRecord> records = chain(p);
            for (AuditRecord r : records.subList(before, records.size())) {
                if (r.action().equals("connection") && r.outcome().startsWith(outcome)) {
                    return r;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no connection record with outcome " + outcome + " in " + chain(p));
    }

    private List<AuditRecord> chain(Principal p) {
        return cp.audit()
                .events()
                .list(p, null, AuditEvents.Filter.ALL, new Page.Request(Page.MAX_LIMIT, 0))
                .items();
    }

    private String proxy(String key, String destination) throws Exception {
        try (Socket s = new Socket("127.0.0.1", gateway.proxyAddress().getPort())) {
            s.setSoTimeout((int) WAIT.toMillis());
            s.getOutputStream()
                    .write(("CONNECT " + destination + " HTTP/1.1\r\n"
                                    + (key == null ? "" : "Proxy-Authorization: Basic " + basic(key) + "\r\n") + "\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    private static String basic(String key) {
        return Base64.getEncoder().encodeToString(("ci:" + key).getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }
}
