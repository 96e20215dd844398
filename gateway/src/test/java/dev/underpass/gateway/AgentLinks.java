package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.protocol.ControlCodec;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.LinkSettings;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.Tls;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.TrustManagerFactory;

/**
 * For tests that speak to a real gateway's agent port by hand, as a second implementation of the
 * agent would (docs/protocol.md): the gateway and accounts they start with, raw TLS and HTTP/2
 * links, and streams that queue what they receive.
 */
public final class AgentLinks {
    /** How long a {@link Stream} waits for an answer's headers or body. */
    static final Duration WAIT = Duration.ofSeconds(20);

    private AgentLinks() {}

    // --- the gateway and its accounts ---

    /** A gateway with the default configuration on loopback ports, its data in {@code dir}. */
    static Gateway start(Path dir, AuthFailures failures) throws Exception {
        return Gateway.start(
                GatewayConfig.defaults()
                        .withListen("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"),
                dir,
                failures);
    }

    /**
     * A gateway configured by a gateway.yaml in {@code dir}: every listener on a free loopback port,
     * then {@code yaml} (e.g. OIDC issuers); its data in {@code dir}/data.
     */
    static Gateway start(Path dir, String yaml, AuthFailures failures) throws Exception {
        Path config = Files.writeString(dir.resolve("gateway.yaml"), """
                agentListen: 127.0.0.1:0
                apiListen: 127.0.0.1:0
                proxyListen: 127.0.0.1:0
                sniListen: 127.0.0.1:0
                metricsListen: 127.0.0.1:0
                """ + yaml);
        return Gateway.start(GatewayConfig.load(config), dir.resolve("data"), failures);
    }

    /** The operator, by the admin key the gateway wrote to its data folder {@code data}. */
    static Principal operator(ControlPlane cp, Path data) throws Exception {
        return cp.apiKeys()
                .authenticate(
                        Files.readString(data.resolve(Gateway.ADMIN_KEY_FILE)).trim());
    }

    /** The owner key of a new account {@code name}. */
    static String accountKey(ControlPlane cp, Principal operator, String name) {
        return cp.accounts()
                .create(operator, new Accounts.CreateRequest(name, null))
                .ownerKey()
                .key();
    }

    /** A new account {@code name}, as its owner. */
    static Principal account(ControlPlane cp, Principal operator, String name) {
        return cp.apiKeys().authenticate(accountKey(cp, operator, name));
    }

    /** Waits (bounded) until the provisioner has opened the endpoint's listener. */
    static Endpoints.View awaitAvailable(ControlPlane cp, Principal consumer, String endpointId)
            throws InterruptedException {
        Endpoints.View available = null;
        for (int i = 0; i < 200 && available == null; i++) {
            Endpoints.View v = cp.endpoints().get(consumer, endpointId);
            if (v.state() == EndpointState.AVAILABLE) {
                available = v;
            } else {
                Thread.sleep(50);
            }
        }
        assertThat(available).as("endpoint available").isNotNull();
        return available;
    }

    // --- links ---

    /** Trust in the gateway's own CA only, as an agent is given it. */
    static TrustManagerFactory gatewayTrust(Gateway gateway) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        try (InputStream in = Files.newInputStream(gateway.caFile())) {
            ks.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        tmf.init(ks);
        return tmf;
    }

    /** A link to the gateway's agent port without a client certificate. */
    static Channel connect(EventLoopGroup group, Gateway gateway) throws Exception {
        return connect(group, gateway, Tls.client(gatewayTrust(gateway), true));
    }

    /** A link to the gateway's agent port over {@code ssl} (which may present a client certificate). */
    static Channel connect(EventLoopGroup group, Gateway gateway, SslContext ssl) throws Exception {
        int port = gateway.agentAddress().getPort();
        return new Bootstrap()
                .group(group)
                .channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc(), "localhost", port));
                        ch.pipeline().addLast(LinkSettings.clientCodec());
                        ch.pipeline().addLast(new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                    }
                })
                .connect(new InetSocketAddress("127.0.0.1", port))
                .sync()
                .channel();
    }

    // --- requests and streams ---

    /** The pseudo-headers of a POST to {@code path}. */
    static Http2Headers post(CharSequence path) {
        return new DefaultHttp2Headers()
                .method("POST")
                .path(path)
                .scheme("https")
                .authority("localhost");
    }

    /** A session request offering {@code versions}, with an authorization header unless it is null. */
    static Http2Headers sessionHeaders(String authorization, String versions) {
        Http2Headers h = post(Protocol.SESSION_PATH);
        if (authorization != null) {
            h.set("authorization", authorization);
        }
        h.set(Protocol.HEADER_PROTOCOL, versions);
        return h;
    }

    /** The request of a data stream for the gateway's connection {@code connection}. */
    static Http2Headers dataStreamHeaders(long connection) {
        Http2Headers h = post(Protocol.STREAM_PATH);
        h.set(Protocol.HEADER_CONNECTION_ID, Long.toString(connection));
        return h;
    }

    /** One HTTP/2 stream of a link, with the frames it received: data as text, the others as they are. */
    record Stream(Http2StreamChannel channel, BlockingQueue<Object> frames) {
        Http2HeadersFrame headers() throws InterruptedException {
            Object f = frames.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(f).as("response headers").isInstanceOf(Http2HeadersFrame.class);
            return (Http2HeadersFrame) f;
        }

        String status() throws InterruptedException {
            return headers().headers().status().toString();
        }

        String body() throws InterruptedException {
            Object f = frames.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(f).as("response body").isInstanceOf(String.class);
            return (String) f;
        }

        /** The next control message line within {@code wait}, skipping frames without one. */
        ControlMessage nextMessage(Duration wait) throws InterruptedException {
            StringBuilder line = new StringBuilder();
            long deadline = System.nanoTime() + wait.toNanos();
            while (System.nanoTime() < deadline) {
                Object f = frames.poll(100, TimeUnit.MILLISECONDS);
                if (f instanceof String s) {
                    line.append(s);
                    int nl = line.indexOf("\n");
                    if (nl >= 0) {
                        return ControlCodec.decode(
                                Unpooled.copiedBuffer(line.substring(0, nl), StandardCharsets.UTF_8));
                    }
                }
            }
            throw new AssertionError("no control message within " + wait);
        }

        /** Sends {@code m} on this stream and waits until it is written. */
        void send(ControlMessage m) throws InterruptedException {
            channel.writeAndFlush(ControlCodec.frame(channel.alloc(), m)).sync();
        }
    }

    /** A new stream on {@code link} whose frames {@code handler} reads; nothing is sent on it yet. */
    static Http2StreamChannel stream(Channel link, ChannelHandler handler) throws InterruptedException {
        return new Http2StreamChannelBootstrap(link)
                .handler(handler)
                .open()
                .sync()
                .getNow();
    }

    /** A new stream on {@code link} that queues what it receives; nothing is sent on it yet. */
    static Stream stream(Channel link) throws InterruptedException {
        BlockingQueue<Object> frames = new LinkedBlockingQueue<>();
        Http2StreamChannel ch = stream(link, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    frames.add(msg instanceof Http2DataFrame d ? d.content().toString(StandardCharsets.UTF_8) : msg);
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }
        });
        return new Stream(ch, frames);
    }

    /** A new stream with {@code headers} sent (ending the request if {@code endStream}). */
    static Stream open(Channel link, Http2Headers headers, boolean endStream) throws InterruptedException {
        Stream s = stream(link);
        s.channel()
                .writeAndFlush(new DefaultHttp2HeadersFrame(headers, endStream))
                .sync();
        return s;
    }
}
