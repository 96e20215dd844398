package dev.underpass.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The relay over real sockets and a real HTTP/2 connection (cleartext, loopback), wired as the
 * gateway and the agent wire it:
 *
 * <pre>
 *   socket a (test) -> entry listener -> relay "near" -> HTTP/2 stream -> relay "far" -> dial -> target: socket b (test)
 * </pre>
 *
 * The near relay runs on a client-side stream channel (as on the agent), the far relay on a
 * server-side inbound stream channel (as on the gateway).
 */
@Timeout(60)
class StreamRelayTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    /** What a relay's listener reported. */
    record Ended(StreamRelay.Outcome outcome, String detail, long bytesFromSocket, long bytesFromStream) {}

    private EventLoopGroup group;
    private ServerSocket target;
    private Channel h2Server;
    private Channel h2Client;
    private Channel entry;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final List<Socket> sockets = new ArrayList<>();
    private final CountDownLatch relaysStarted = new CountDownLatch(2);
    private final CompletableFuture<Ended> near = new CompletableFuture<>();
    private final CompletableFuture<Ended> far = new CompletableFuture<>();
    private final AtomicInteger nearReports = new AtomicInteger();
    private final CompletableFuture<StreamRelay> nearRelay = new CompletableFuture<>();
    private final AtomicInteger farReports = new AtomicInteger();

    @BeforeEach
    void setUp() throws Exception {
        group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        target = new ServerSocket(0, 50, LOOPBACK);
        target.setSoTimeout((int) WAIT.toMillis());

        h2Server = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline()
                                .addLast(Http2FrameCodecBuilder.forServer()
                                        .initialSettings(LinkSettings.initial())
                                        .build());
                        ch.pipeline().addLast(new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel stream) {
                                stream.pipeline().addLast(new FarSide());
                            }
                        }));
                    }
                })
                .bind(new InetSocketAddress(LOOPBACK, 0))
                .sync()
                .channel();

        h2Client = new Bootstrap()
                .group(group)
                .channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline()
                                .addLast(Http2FrameCodecBuilder.forClient()
                                        .initialSettings(LinkSettings.initial().pushEnabled(false))
                                        .build());
                        ch.pipeline().addLast(new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel stream) {
                                stream.close(); // the server opens no streams here
                            }
                        }));
                    }
                })
                .connect(h2Server.localAddress())
                .sync()
                .channel();

        entry = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        // Through config(), as the product does (see EndpointListeners): a
                        // childOption(AUTO_READ, false) breaks the first read on epoll.
                        ch.config().setAutoRead(false);
                        ch.pipeline().addLast(new NearSide());
                    }
                })
                .bind(new InetSocketAddress(LOOPBACK, 0))
                .sync()
                .channel();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Socket s : sockets) {
            s.close();
        }
        target.close();
        executor.shutdownNow();
        for (Channel c : new Channel[] {entry, h2Client, h2Server}) {
            if (c != null) {
                c.close().syncUninterruptibly();
            }
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Accepted on the entry listener: opens a stream on the HTTP/2 client and relays into it. */
    private final class NearSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel socket = ctx.channel();
            ctx.pipeline().remove(this);
            new Http2StreamChannelBootstrap(h2Client)
                    .option(ChannelOption.AUTO_READ, false)
                    .open()
                    .addListener(f -> {
                        if (!f.isSuccess()) {
                            near.completeExceptionally(f.cause());
                            socket.close();
                            return;
                        }
                        Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
                        stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers()
                                .method("POST")
                                .path("/relay")
                                .scheme("http")
                                .authority("test")));
                        nearRelay.complete(StreamRelay.start(socket, stream, report(near, nearReports)));
                        relaysStarted.countDown();
                    });
            ctx.fireChannelActive();
        }
    }

    /** A stream arrived on the HTTP/2 server: answers 200, dials the target and relays. */
    private final class FarSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
            if (!(msg instanceof Http2HeadersFrame)) {
                far.completeExceptionally(new AssertionError("expected HEADERS first, got " + msg));
                return;
            }
            Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
            stream.config().setAutoRead(false); // DATA waits, queued, until the relay reads it
            ctx.pipeline().remove(this);
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
            new Bootstrap()
                    .group(group)
                    .channel(NioSocketChannel.class)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.config().setAutoRead(false);
                        }
                    })
                    .connect(target.getLocalSocketAddress())
                    .addListener((ChannelFutureListener) f -> {
                        if (!f.isSuccess()) {
                            far.completeExceptionally(f.cause());
                            stream.close();
                            return;
                        }
                        StreamRelay.start(f.channel(), stream, report(far, farReports));
                        relaysStarted.countDown();
                    });
        }
    }

    private static StreamRelay.Listener report(CompletableFuture<Ended> into, AtomicInteger calls) {
        return (relay, outcome, detail) -> {
            calls.incrementAndGet();
            into.complete(new Ended(outcome, detail, relay.bytesFromSocket(), relay.bytesFromStream()));
        };
    }

    /** Connects socket a and accepts socket b at the target, once both relays run. */
    private Socket[] connectPair() throws Exception {
        Socket a = new Socket(LOOPBACK, ((InetSocketAddress) entry.localAddress()).getPort());
        sockets.add(a);
        a.setSoTimeout((int) WAIT.toMillis());
        Socket b = target.accept();
        sockets.add(b);
        b.setSoTimeout((int) WAIT.toMillis());
        assertThat(relaysStarted.await(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                .as("both relays started")
                .isTrue();
        return new Socket[] {a, b};
    }

    private static Ended ended(CompletableFuture<Ended> f) throws Exception {
        return f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static void assertSameBytes(byte[] actual, byte[] expected) {
        assertThat(actual.length).isEqualTo(expected.length);
        assertThat(Arrays.mismatch(actual, expected))
                .as("index of the first differing byte")
                .isEqualTo(-1);
    }

    @Test
    void carriesMebibytesBothWaysInOrderAndCompletes() throws Exception {
        Socket[] pair = connectPair();
        Socket a = pair[0];
        Socket b = pair[1];
        byte[] up = random(3 * 1024 * 1024 + 17, 1);
        byte[] down = random(2 * 1024 * 1024 + 5, 2);

        Future<?> writeUp = executor.submit(() -> {
            a.getOutputStream().write(up);
            a.shutdownOutput();
            return null;
        });
        Future<?> writeDown = executor.submit(() -> {
            b.getOutputStream().write(down);
            b.shutdownOutput();
            return null;
        });
        Future<byte[]> readAtB = executor.submit(() -> b.getInputStream().readAllBytes());
        Future<byte[]> readAtA = executor.submit(() -> a.getInputStream().readAllBytes());

        writeUp.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        writeDown.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertSameBytes(readAtB.get(WAIT.toMillis(), TimeUnit.MILLISECONDS), up);
        assertSameBytes(readAtA.get(WAIT.toMillis(), TimeUnit.MILLISECONDS), down);

        Ended n = ended(near);
        Ended f = ended(far);
        assertThat(n).isEqualTo(new Ended(StreamRelay.Outcome.COMPLETED, null, up.length, down.length));
        assertThat(f).isEqualTo(new Ended(StreamRelay.Outcome.COMPLETED, null, down.length, up.length));
        assertThat(nearReports).hasValue(1);
        assertThat(farReports).hasValue(1);
    }

    @Test
    void halfClosePropagatesAsEofWhileTheOtherDirectionKeepsWorking() throws Exception {
        Socket[] pair = connectPair();
        Socket a = pair[0];
        Socket b = pair[1];
        byte[] request = "GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

        a.getOutputStream().write(request);
        a.shutdownOutput();
        InputStream atB = b.getInputStream();
        assertThat(atB.readNBytes(request.length)).isEqualTo(request);
        assertThat(atB.read()).as("a's FIN reaches b as end of stream").isEqualTo(-1);

        // Only one direction has finished: the connection must still be up, and b can answer.
        byte[] response1 = "HTTP/1.0 200 OK\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        byte[] response2 = random(100_000, 3);
        b.getOutputStream().write(response1);
        InputStream atA = a.getInputStream();
        assertThat(atA.readNBytes(response1.length)).isEqualTo(response1);
        b.getOutputStream().write(response2);
        assertSameBytes(atA.readNBytes(response2.length), response2);
        assertThat(near).as("near relay still open after one FIN").isNotDone();
        assertThat(far).as("far relay still open after one FIN").isNotDone();

        b.shutdownOutput();
        assertThat(atA.read()).as("b's FIN reaches a as end of stream").isEqualTo(-1);

        long answered = response1.length + response2.length;
        assertThat(ended(near)).isEqualTo(new Ended(StreamRelay.Outcome.COMPLETED, null, request.length, answered));
        assertThat(ended(far)).isEqualTo(new Ended(StreamRelay.Outcome.COMPLETED, null, answered, request.length));
        assertThat(nearReports).hasValue(1);
        assertThat(farReports).hasValue(1);
    }

    @Test
    void resetOfTheNearSocketReachesTheFarSocketAsReset() throws Exception {
        Socket[] pair = connectPair();
        Socket a = pair[0];
        Socket b = pair[1];
        exchangeOneLine(a, b);

        reset(a);
        assertReadFailsWithReset(b);

        Ended n = ended(near);
        Ended f = ended(far);
        assertThat(n.outcome()).isEqualTo(StreamRelay.Outcome.SOCKET_RESET);
        assertThat(f.outcome()).isEqualTo(StreamRelay.Outcome.STREAM_RESET);
        assertThat(n.detail()).isNotBlank();
        assertThat(f.detail()).isNotBlank();
    }

    @Test
    void resetOfTheFarSocketReachesTheNearSocketAsReset() throws Exception {
        Socket[] pair = connectPair();
        Socket a = pair[0];
        Socket b = pair[1];
        exchangeOneLine(a, b);

        reset(b);
        assertReadFailsWithReset(a);

        assertThat(ended(far).outcome()).isEqualTo(StreamRelay.Outcome.SOCKET_RESET);
        assertThat(ended(near).outcome()).isEqualTo(StreamRelay.Outcome.STREAM_RESET);
    }

    @Test
    void resetAfterAHalfCloseIsStillAReset() throws Exception {
        Socket[] pair = connectPair();
        Socket a = pair[0];
        Socket b = pair[1];
        a.shutdownOutput();
        assertThat(b.getInputStream().read()).isEqualTo(-1);

        reset(b);
        assertReadFailsWithReset(a);
        assertThat(ended(far).outcome()).isEqualTo(StreamRelay.Outcome.SOCKET_RESET);
        assertThat(ended(near).outcome()).isEqualTo(StreamRelay.Outcome.STREAM_RESET);
    }

    @Test
    void lossOfTheHttp2ConnectionResetsBothSockets() throws Exception {
        Socket[] pair = connectPair();
        Socket a = pair[0];
        Socket b = pair[1];
        exchangeOneLine(a, b);

        h2Client.close().syncUninterruptibly();

        assertReadFailsWithReset(a);
        assertReadFailsWithReset(b);
        assertThat(ended(near).outcome()).isEqualTo(StreamRelay.Outcome.STREAM_RESET);
        assertThat(ended(far).outcome()).isEqualTo(StreamRelay.Outcome.STREAM_RESET);
    }

    @Test
    void abortResetsBothSocketsAndReportsErrorWithTheReason() throws Exception {
        Socket[] pair = connectPair();
        Socket a = pair[0];
        Socket b = pair[1];
        exchangeOneLine(a, b);

        nearRelay.get(WAIT.toMillis(), TimeUnit.MILLISECONDS).abort("endpoint removed");

        assertReadFailsWithReset(a);
        assertReadFailsWithReset(b);
        Ended n = ended(near);
        assertThat(n.outcome()).isEqualTo(StreamRelay.Outcome.ERROR);
        assertThat(n.detail()).isEqualTo("endpoint removed");
        assertThat(ended(far).outcome()).isEqualTo(StreamRelay.Outcome.STREAM_RESET);
        assertThat(nearReports).hasValue(1);
    }

    private static void exchangeOneLine(Socket a, Socket b) throws IOException {
        byte[] hello = "hello\n".getBytes(StandardCharsets.US_ASCII);
        a.getOutputStream().write(hello);
        assertThat(b.getInputStream().readNBytes(hello.length)).isEqualTo(hello);
        b.getOutputStream().write(hello);
        assertThat(a.getInputStream().readNBytes(hello.length)).isEqualTo(hello);
    }

    /** Closes with a TCP RST instead of a FIN. */
    private static void reset(Socket s) throws IOException {
        s.setSoLinger(true, 0);
        s.close();
    }

    private static void assertReadFailsWithReset(Socket s) {
        try {
            InputStream in = s.getInputStream();
            byte[] buf = new byte[8192];
            int n;
            do {
                n = in.read(buf);
            } while (n > 0);
            fail("expected a connection reset, but the stream ended normally (read returned " + n + ")");
        } catch (IOException e) {
            assertThat(e.getMessage()).as("read error on %s", s).containsIgnoringCase("reset");
        }
    }
}
