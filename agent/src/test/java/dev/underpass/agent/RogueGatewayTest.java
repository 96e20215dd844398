package dev.underpass.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.DialError;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.Tls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.SelfSignedCertificate;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The agent's local allowlist is authoritative, even against a gateway that is compromised or
 * wrong: a fake gateway (real TLS 1.3, real HTTP/2) asks the real agent to open connections to a
 * real, listening loopback server that is not in the allowlist. The agent must refuse with
 * {@code NOT_ALLOWED} and never touch that server, while still serving its allowed target.
 */
@Timeout(60)
@SuppressWarnings("deprecation") // SelfSignedCertificate: its successor (netty-pkitesting) does not resolve here
class RogueGatewayTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final String TOKEN = "upa_rogue-gateway-test-token";

    private final List<AutoCloseable> cleanup = new ArrayList<>();
    private final BlockingQueue<ControlMessage> fromAgent = new LinkedBlockingQueue<>();
    private final BlockingQueue<Http2Headers> dataStreams = new LinkedBlockingQueue<>();
    private final BlockingQueue<Http2StreamChannel> standbyStreams = new LinkedBlockingQueue<>();
    private final BlockingQueue<Http2Headers> connectStreams = new LinkedBlockingQueue<>();
    private final CompletableFuture<Http2StreamChannel> session = new CompletableFuture<>();
    /** What each session request offered in underpass-protocol. */
    private final BlockingQueue<String> offers = new LinkedBlockingQueue<>();
    /** Plays a version-1 gateway: 426 unless the offer is exactly "1". */
    private volatile boolean onlyVersion1;

    private final List<Throwable> gatewayErrors = new CopyOnWriteArrayList<>();
    private final BlockingQueue<Future<Channel>> handshakes = new LinkedBlockingQueue<>();
    private EventLoopGroup group;
    private SelfSignedCertificate cert;
    private Channel gateway;
    private CountingServer forbidden;
    private CountingServer allowed;
    private Agent agent;

    /** A plain TCP server on loopback port 0 that counts and keeps the connections it accepts. */
    private static final class CountingServer implements AutoCloseable {
        final ServerSocket server = new ServerSocket(0, 50, LOOPBACK);
        final AtomicInteger accepts = new AtomicInteger();
        final BlockingQueue<Socket> accepted = new LinkedBlockingQueue<>();
        private final Thread thread = new Thread(this::run, "counting-server");

        CountingServer() throws IOException {
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            try {
                while (true) {
                    Socket s = server.accept();
                    accepts.incrementAndGet();
                    accepted.add(s);
                }
            } catch (IOException closed) {
                // the test is over
            }
        }

        String address() {
            return "127.0.0.1:" + server.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : accepted) {
                s.close();
            }
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        forbidden = new CountingServer();
        cleanup.add(forbidden);
        allowed = new CountingServer();
        cleanup.add(allowed);
        cert = new SelfSignedCertificate("localhost");
        cleanup.add(cert::delete);
        SslContext ssl = Tls.server(cert.certificate(), cert.privateKey());
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        cleanup.add(() -> group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly());
        gateway = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        SslHandler tls = ssl.newHandler(ch.alloc());
                        handshakes.add(tls.handshakeFuture());
                        ch.pipeline().addLast(tls);
                        ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().build());
                        ch.pipeline().addLast(new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel stream) {
                                stream.pipeline().addLast(new FakeGatewayStream());
                            }
                        }));
                    }
                })
                .bind(new InetSocketAddress(LOOPBACK, 0))
                .sync()
                .channel();
        cleanup.add(() -> gateway.close().syncUninterruptibly());
    }

    @AfterEach
    void tearDown() throws Exception {
        if (agent != null) {
            agent.close();
        }
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            cleanup.get(i).close();
        }
    }

    /** Dispatches the agent's streams: the session (control messages) and data streams. */
    private final class FakeGatewayStream extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof Http2HeadersFrame frame)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
            Http2Headers h = frame.headers();
            String path = String.valueOf(h.path());
            if (Protocol.SESSION_PATH.equals(path)) {
                String offered = String.valueOf(h.get(Protocol.HEADER_PROTOCOL));
                offers.add(offered);
                if (onlyVersion1 && !"1".equals(offered)) {
                    Http2Headers refused = new DefaultHttp2Headers().status("426");
                    refused.set("content-type", Protocol.CONTENT_TYPE_PROBLEM);
                    stream.write(new DefaultHttp2HeadersFrame(refused));
                    stream.writeAndFlush(new DefaultHttp2DataFrame(
                            Unpooled.copiedBuffer(
                                    "{\"type\":\"about:blank\","
                                            + "\"title\":\"Protocol version mismatch\",\"status\":426,\"detail\":\"agent speaks "
                                            + "underpass-protocol " + offered + ", gateway speaks 1\"}",
                                    StandardCharsets.UTF_8),
                            true));
                    return;
                }
                Http2Headers ok = new DefaultHttp2Headers().status("200");
                ok.set("content-type", Protocol.CONTENT_TYPE_NDJSON);
                ok.set(Protocol.HEADER_PROTOCOL, onlyVersion1 ? "1" : Integer.toString(Protocol.VERSION));
                stream.writeAndFlush(new DefaultHttp2HeadersFrame(ok));
                ctx.pipeline().addLast(new DataContent());
                ControlCodec.addDecoder(ctx.pipeline());
                ctx.pipeline().addLast(new CollectControl());
                ctx.pipeline().remove(this);
                session.complete(stream);
            } else if (Protocol.CONNECT_PATH.equals(path)) {
                connectStreams.add(h); // a connection on an agent listener: answered, carried nowhere
                ctx.pipeline().remove(this);
                stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
            } else if (Protocol.STREAM_PATH.equals(path) && h.contains(Protocol.HEADER_STANDBY)) {
                ctx.pipeline().remove(this); // held for the test to answer, or never
                standbyStreams.add(stream);
            } else if (Protocol.STREAM_PATH.equals(path)) {
                dataStreams.add(h);
                ctx.pipeline().remove(this);
                stream.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
                stream.writeAndFlush(new DefaultHttp2DataFrame(
                        Unpooled.copiedBuffer("hello from the gateway", StandardCharsets.US_ASCII)));
            } else {
                gatewayErrors.add(new AssertionError("unexpected stream path " + path));
                stream.close();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            gatewayErrors.add(cause);
        }
    }

    private static final class DataContent extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2DataFrame d) {
                ctx.fireChannelRead(d.content());
            } else {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    private final class CollectControl extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            fromAgent.add((ControlMessage) msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            gatewayErrors.add(cause);
        }
    }

    private static String pin(SelfSignedCertificate cert) throws Exception {
        return "sha256:"
                + HexFormat.of()
                        .formatHex(MessageDigest.getInstance("SHA-256")
                                .digest(cert.cert().getEncoded()));
    }

    private ControlMessage nextFromAgent() throws InterruptedException {
        ControlMessage m = fromAgent.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(m).as("control message from the agent within %s", WAIT).isNotNull();
        return m;
    }

    /** Starts the agent against the rogue gateway, trusting {@code pin}, allowed to dial {@code targets}. */
    private void startAgent(String pin, List<String> targets) throws Exception {
        int gatewayPort = ((InetSocketAddress) gateway.localAddress()).getPort();
        agent = new Agent(new AgentConfig(
                "127.0.0.1:" + gatewayPort, "rogue-test", TOKEN, null, null, pin, null, null, null, 5, targets));
        agent.start();
    }

    @Test
    void aGatewayCannotMakeTheAgentListenWhereItsFileDoesNot() throws Exception {
        int listed = freePort();
        int elsewhere = freePort();
        int unlisted = freePort();
        agent = new Agent(withListeners(List.of("127.0.0.1:" + listed + " -> ep-listed:5432")));
        agent.start();
        assertThat(agent.awaitSession(WAIT)).isTrue();
        Http2StreamChannel s = session.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        ControlMessage.Advertise advertise = (ControlMessage.Advertise) nextFromAgent();
        assertThat(advertise.listeners())
                .containsExactly(new ControlMessage.Listener("127.0.0.1:" + listed, "ep-listed", 5432, null, null));

        // The gateway opens the listed listener, but names another address for it, and opens one
        // the file does not list at all: the agent listens on its own address only.
        s.writeAndFlush(ControlCodec.frame(
                s.alloc(),
                new ControlMessage.Listeners(List.of(
                        new ControlMessage.Listener("127.0.0.1:" + elsewhere, "ep-listed", 5432, true, null),
                        new ControlMessage.Listener("127.0.0.1:" + unlisted, "ep-unlisted", 22, true, null)))));
        awaitAccepting(listed, true);
        assertThat(accepts(elsewhere)).as("not the address the gateway named").isFalse();
        assertThat(accepts(unlisted))
                .as("not a listener the file does not list")
                .isFalse();

        // A connection on the listed one becomes a connect stream naming its endpoint.
        try (Socket client = new Socket(LOOPBACK, listed)) {
            Http2Headers h = connectStreams.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(h).as("a connect stream for the client").isNotNull();
            assertThat(String.valueOf(h.get(Protocol.HEADER_ENDPOINT))).isEqualTo("ep-listed");
            assertThat(String.valueOf(h.get(Protocol.HEADER_SERVICE_PORT))).isEqualTo("5432");
        }

        // Closed by the gateway: nothing listens any more.
        s.writeAndFlush(ControlCodec.frame(
                s.alloc(),
                new ControlMessage.Listeners(
                        List.of(new ControlMessage.Listener(null, "ep-listed", 5432, false, "endpoint rejected")))));
        awaitAccepting(listed, false);
        assertThat(gatewayErrors).isEmpty();
    }

    @Test
    void aListenerWhoseAddressIsTakenOpensOnceItIsFree() throws Exception {
        int taken = freePort();
        int sentinel = freePort();
        agent = new Agent(withListeners(
                List.of("127.0.0.1:" + taken + " -> ep-taken:5432", "127.0.0.1:" + sentinel + " -> ep-sentinel:80")));
        try (ServerSocket occupant = new ServerSocket(taken, 50, LOOPBACK)) {
            agent.start();
            assertThat(agent.awaitSession(WAIT)).isTrue();
            Http2StreamChannel s = session.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            nextFromAgent(); // its advertise
            // Both open, in this order: once the second listens, the first has tried and failed.
            s.writeAndFlush(ControlCodec.frame(
                    s.alloc(),
                    new ControlMessage.Listeners(List.of(
                            new ControlMessage.Listener(null, "ep-taken", 5432, true, null),
                            new ControlMessage.Listener(null, "ep-sentinel", 80, true, null)))));
            awaitAccepting(sentinel, true);
        }
        // The address is free now: the agent takes it within its retry interval, with no new word.
        awaitAccepting(taken, true);
        // What accepted is the agent, not a leftover: its connections become connect streams for ep-taken.
        long deadline = System.nanoTime() + WAIT.toNanos();
        String endpoint = "";
        while (!endpoint.equals("ep-taken") && System.nanoTime() < deadline) {
            Http2Headers h = connectStreams.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            endpoint = h == null ? "" : String.valueOf(h.get(Protocol.HEADER_ENDPOINT));
        }
        assertThat(endpoint).as("a connect stream from the listener once free").isEqualTo("ep-taken");
        assertThat(gatewayErrors).isEmpty();
    }

    /** An agent of the rogue gateway, allowed to dial the allowed server, with agent listeners {@code listen}. */
    private AgentConfig withListeners(List<String> listen) throws Exception {
        int gatewayPort = ((InetSocketAddress) gateway.localAddress()).getPort();
        return new AgentConfig(
                "127.0.0.1:" + gatewayPort,
                "rogue-test",
                TOKEN,
                null,
                null,
                pin(cert),
                null,
                null,
                null,
                5,
                List.of(allowed.address()),
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                listen);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
            return s.getLocalPort();
        }
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket(LOOPBACK, port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void awaitAccepting(int port, boolean wanted) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (accepts(port) != wanted && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(accepts(port)).as("port %d accepting", port).isEqualTo(wanted);
    }

    private void sendOpen(Http2StreamChannel s, long id, String target) {
        s.writeAndFlush(ControlCodec.frame(s.alloc(), new ControlMessage.Open(id, target)));
    }

    @Test
    void anAgentFallsBackToTheVersionAnOlderGatewayNamesInIts426() throws Exception {
        onlyVersion1 = true;
        startAgent(pin(cert), List.of(allowed.address()));
        assertThat(agent.awaitSession(WAIT))
                .as("a version-1 session after one refusal")
                .isTrue();
        assertThat(offers.poll()).isEqualTo("3, 2, 1");
        assertThat(offers.poll()).isEqualTo("1");
    }

    @Test
    void agentRefusesTargetsOutsideItsAllowlistAndServesTheAllowedOne() throws Exception {
        startAgent(pin(cert), List.of(allowed.address()));
        assertThat(agent.awaitSession(WAIT))
                .as("agent session established with the fake gateway")
                .isTrue();
        Http2StreamChannel s = session.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);

        // The agent advertises exactly its allowlist.
        assertThat(nextFromAgent()).isEqualTo(new ControlMessage.Advertise(Agent.VERSION, List.of(allowed.address())));

        // The rogue gateway asks for a real, listening server the agent was never allowed to reach,
        // by address and by name, and for something that is not an address at all.
        int forbiddenPort = forbidden.server.getLocalPort();
        sendOpen(s, 101, "127.0.0.1:" + forbiddenPort);
        sendOpen(s, 102, "localhost:" + forbiddenPort);
        sendOpen(s, 103, "127.0.0.1:" + forbiddenPort + "; " + allowed.address());
        List<ControlMessage.DialFailed> refusals = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ControlMessage m = nextFromAgent();
            assertThat(m).isInstanceOf(ControlMessage.DialFailed.class);
            refusals.add((ControlMessage.DialFailed) m);
        }
        assertThat(refusals).extracting(ControlMessage.DialFailed::connection).containsExactly(101L, 102L, 103L);
        assertThat(refusals).extracting(ControlMessage.DialFailed::error).containsOnly(DialError.NOT_ALLOWED);
        assertThat(refusals).allSatisfy(f -> assertThat(f.detail()).isNotBlank());
        assertThat(dataStreams).as("no data stream for a refused target").isEmpty();

        // The allowed target still works over the same session.
        sendOpen(s, 104, allowed.address());
        Http2Headers stream = dataStreams.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(stream).as("data stream for the allowed target").isNotNull();
        assertThat(String.valueOf(stream.path())).isEqualTo(Protocol.STREAM_PATH);
        assertThat(String.valueOf(stream.method())).isEqualTo("POST");
        assertThat(String.valueOf(stream.get(Protocol.HEADER_CONNECTION_ID))).isEqualTo("104");
        Socket atTarget = allowed.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(atTarget).as("the agent dialled the allowed target").isNotNull();
        atTarget.setSoTimeout((int) WAIT.toMillis());
        byte[] hello = "hello from the gateway".getBytes(StandardCharsets.US_ASCII);
        assertThat(atTarget.getInputStream().readNBytes(hello.length)).isEqualTo(hello);

        assertThat(allowed.accepts).hasValue(1);
        assertThat(forbidden.accepts)
                .as("connections the agent made to the forbidden server")
                .hasValue(0);
        assertThat(fromAgent).as("no further control messages").isEmpty();
        assertThat(gatewayErrors).isEmpty();
    }

    @Test
    void allowlistedNamesThatLeadToTheAgentHostOrTheMetadataServiceAreNeverDialled() throws Exception {
        int forbiddenPort = forbidden.server.getLocalPort();
        int allowedPort = allowed.server.getLocalPort();
        // The names resolve from the test hosts file: as if the attacker answered their DNS queries.
        String rebound = "rebound.underpass.test:" + forbiddenPort;
        String metadata = "metadata.underpass.test:80";
        String local = "localhost:" + allowedPort;
        startAgent(pin(cert), List.of(rebound, metadata, local));
        assertThat(agent.awaitSession(WAIT)).isTrue();
        Http2StreamChannel s = session.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(nextFromAgent()).isInstanceOf(ControlMessage.Advertise.class);

        sendOpen(s, 201, rebound);
        sendOpen(s, 202, metadata);
        Map<Long, ControlMessage.DialFailed> refusals = new HashMap<>();
        for (int i = 0; i < 2; i++) {
            ControlMessage.DialFailed f = (ControlMessage.DialFailed) nextFromAgent();
            refusals.put(f.connection(), f);
        }
        assertThat(refusals.get(201L).error()).isEqualTo(DialError.NOT_ALLOWED);
        assertThat(refusals.get(201L).detail()).contains("resolved to [127.0.0.1]");
        assertThat(refusals.get(202L).error()).isEqualTo(DialError.NOT_ALLOWED);
        assertThat(refusals.get(202L).detail()).contains("resolved to [169.254.169.254]");

        sendOpen(s, 203, local); // localhost, as the administrator wrote it, is the agent host on purpose
        assertThat(dataStreams.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                .as("data stream for localhost")
                .isNotNull();
        assertThat(allowed.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                .isNotNull();
        assertThat(forbidden.accepts)
                .as("connections to the server the rebound name led to")
                .hasValue(0);
    }

    @Test
    void aStandbyStreamAnsweredWithATargetOutsideTheAllowlistIsRefusedAndTheAllowedOneCarriesBytes() throws Exception {
        startAgent(pin(cert), List.of(allowed.address()));
        assertThat(agent.awaitSession(WAIT)).isTrue();
        assertThat(nextFromAgent()).isInstanceOf(ControlMessage.Advertise.class);

        // The agent keeps standby streams; the rogue gateway answers one with a forbidden target.
        Http2StreamChannel first = standbyStreams.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(first).as("a standby stream from the agent").isNotNull();
        answer(first, 201, "127.0.0.1:" + forbidden.server.getLocalPort(), "must never arrive");
        ControlMessage m = nextFromAgent();
        assertThat(m)
                .isEqualTo(new ControlMessage.DialFailed(
                        201, DialError.NOT_ALLOWED, ((ControlMessage.DialFailed) m).detail()));

        // Another answered with the allowed target: the bytes sent right behind the answer, before
        // the agent has even dialled, arrive at the target in order.
        Http2StreamChannel second = standbyStreams.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(second).isNotNull();
        answer(second, 202, allowed.address(), "first bytes, sent with the answer");
        Socket atTarget = allowed.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(atTarget).as("the agent dialled the allowed target").isNotNull();
        atTarget.setSoTimeout((int) WAIT.toMillis());
        byte[] expected = "first bytes, sent with the answer".getBytes(StandardCharsets.US_ASCII);
        assertThat(atTarget.getInputStream().readNBytes(expected.length)).isEqualTo(expected);
        assertThat(forbidden.accepts)
                .as("connections the agent made to the forbidden server")
                .hasValue(0);
        assertThat(gatewayErrors).isEmpty();
    }

    @Test
    void standbyStreamsAreReplacedAsTheGatewayUsesThem() throws Exception {
        startAgent(pin(cert), List.of(allowed.address()));
        assertThat(agent.awaitSession(WAIT)).isTrue();

        // Three pools' worth, one after another: without refills the agent's first 8 run out.
        for (int i = 0; i < 3 * Protocol.STANDBY_STREAMS; i++) {
            Http2StreamChannel stream = standbyStreams.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(stream).as("standby stream %d from the agent", i + 1).isNotNull();
            answer(stream, 300 + i, allowed.address(), "x");
            assertThat(allowed.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                    .as("the agent dialled the target of connection %d", 300 + i)
                    .isNotNull();
        }
        assertThat(gatewayErrors).isEmpty();
    }

    /** Answers a standby stream as a gateway assigning a connection does, with data right behind. */
    private static void answer(Http2StreamChannel stream, long id, String target, String data) {
        Http2Headers h = new DefaultHttp2Headers().status("200");
        h.set(Protocol.HEADER_CONNECTION_ID, Long.toString(id));
        h.set(Protocol.HEADER_TARGET, target);
        stream.write(new DefaultHttp2HeadersFrame(h));
        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(data, StandardCharsets.US_ASCII)));
    }

    @Test
    void agentDoesNotTalkToAGatewayWhoseCertificateDoesNotMatchThePin() throws Exception {
        startAgent("sha256:" + "00".repeat(32), List.of(allowed.address()));

        Future<Channel> handshake = handshakes.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(handshake).as("the agent tried to connect").isNotNull();
        assertThat(handshake.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        assertThat(handshake.isSuccess())
                .as("TLS handshake with an unpinned certificate")
                .isFalse();
        assertThat(session)
                .as("no session stream, so the token never left the agent")
                .isNotDone();
        assertThat(fromAgent).isEmpty();
    }
}
