package dev.underpass.agent.link;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.protocol.Causes;
import dev.underpass.protocol.Enrollment;
import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.LinkSettings;
import dev.underpass.protocol.SealedFiles;
import dev.underpass.protocol.SecretBox;
import dev.underpass.protocol.Tls;
import dev.underpass.protocol.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * {@code underpass agent enroll}: exchanges a one-time enrollment token for a client certificate
 * over the gateway's agent port ({@link Enrollment}). The EC P-256 key is generated here and
 * never leaves the host: the gateway sees only a certificate request signed with it. Writes
 * {@value #CERTIFICATE_FILE} and {@value #KEY_FILE} (0600, the key sealed when
 * {@link SecretBox#KEY_ENV} is set).
 */
public final class AgentEnrollment {
    public static final String CERTIFICATE_FILE = "client.pem";
    public static final String KEY_FILE = "client-key.pem";
    static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final int MAX_ANSWER_BYTES = 64 * 1024;

    /** Where to enroll and how to trust the gateway (as the agent does), and where to write. */
    public record Request(String gateway, String caFile, String pin, String tokenFile, Path outDir, String proxy) {}

    /** What was written, and the certificate's id (its common name) and expiry. */
    public record Result(
            Path certificate, Path key, String certificateId, java.time.Instant notAfter, boolean sealed) {}

    /** The gateway refused the enrollment: its status and reason. */
    public static final class Refused extends IOException {
        private final int status;

        Refused(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    private AgentEnrollment() {}

    /**
     * Enrolls: checks the request, generates the key, asks the gateway, writes both files.
     *
     * @throws IllegalArgumentException listing every problem with {@code request}
     * @throws IOException when the gateway cannot be reached or refuses ({@link Refused})
     */
    public static Result enroll(Request request, SecretBox box) throws IOException, InterruptedException {
        Objects.requireNonNull(request, "request");
        AgentConfig trust = new AgentConfig(
                request.gateway(),
                null,
                null,
                null,
                request.caFile(),
                request.pin(),
                request.proxy(),
                null,
                null,
                null,
                List.of());
        List<String> errors = new ArrayList<>();
        for (String e : trust.validate()) {
            if (e.startsWith("gateway:") || e.startsWith("caFile:") || e.startsWith("pin:") || e.startsWith("proxy:")) {
                errors.add(e);
            }
        }
        if (request.tokenFile() == null) {
            errors.add("enrollmentTokenFile: missing (expected: --enrollment-token-file FILE holding upe_..., from "
                    + "'underpass agent-enrollment create')");
        } else if (!Files.isReadable(Path.of(request.tokenFile()))) {
            errors.add("enrollmentTokenFile: " + request.tokenFile() + " (expected: a readable file)");
        }
        if (request.outDir() == null) {
            errors.add("out: missing (expected: --out DIR, where client.pem and client-key.pem go)");
        }
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("invalid enrollment:\n  " + String.join("\n  ", errors));
        }
        String token = Files.readString(Path.of(request.tokenFile())).trim();
        if (!token.startsWith("upe_")) {
            throw new IllegalArgumentException("enrollmentTokenFile: " + request.tokenFile()
                    + " does not hold an enrollment token (expected: upe_...)");
        }
        KeyPair keys;
        String csr;
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            keys = gen.generateKeyPair();
            // The gateway ignores the subject: it names the certificate itself.
            var builder =
                    new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=underpass-agent"), keys.getPublic());
            csr = pem(builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate())));
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("cannot generate the agent key: " + e.getMessage(), e);
        }
        SslContext ssl = Tls.client(GatewayTrust.of(trust), GatewayTrust.verifiesHostname(trust));
        AgentConfig.ProxySettings proxy =
                request.proxy() == null ? null : AgentConfig.ProxySettings.parse(request.proxy());
        String chain = exchange(trust.gatewayAddress(), proxy, ssl, token, csr);
        X509Certificate leaf = firstCertificate(chain);
        Files.createDirectories(request.outDir());
        Path certFile = request.outDir().resolve(CERTIFICATE_FILE);
        Path keyFile = request.outDir().resolve(KEY_FILE);
        SealedFiles.writePrivate(
                keyFile,
                pem(new JcaPKCS8Generator(keys.getPrivate(), null)).getBytes(StandardCharsets.US_ASCII),
                ClientCertificate.PURPOSE,
                box);
        SealedFiles.writePrivate(certFile, chain.getBytes(StandardCharsets.US_ASCII), "", null);
        String cn = leaf.getSubjectX500Principal().getName().replaceFirst("^CN=", "");
        return new Result(certFile, keyFile, cn, leaf.getNotAfter().toInstant(), box != null);
    }

    private static String pem(Object o) throws IOException {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter pem = new JcaPEMWriter(w)) {
            pem.writeObject(o);
        }
        return w.toString();
    }

    private static X509Certificate firstCertificate(String chain) throws IOException {
        try (PEMParser p = new PEMParser(new StringReader(chain))) {
            if (p.readObject() instanceof X509CertificateHolder h) {
                return new JcaX509CertificateConverter().getCertificate(h);
            }
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new IOException("the gateway answered something that is not a PEM certificate: " + e.getMessage(), e);
        }
        throw new IOException("the gateway answered something that is not a PEM certificate chain");
    }

    /** The detail of a problem document, or the start of whatever the gateway sent. */
    static String problemDetail(String json) {
        try {
            var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
            if (node != null && node.hasNonNull("detail")) {
                return node.get("detail").asText();
            }
        } catch (IOException notJson) {
            // fall through: show what the gateway sent
        }
        return json.length() > 200 ? json.substring(0, 200) : json;
    }

    /** One TLS 1.3 + HTTP/2 link, one request, one answer. */
    private static String exchange(
            HostAndPort gateway, AgentConfig.ProxySettings proxy, SslContext ssl, String token, String csr)
            throws IOException, InterruptedException {
        EventLoopGroup group = Transport.group("underpass-enroll");
        CompletableFuture<String> answer = new CompletableFuture<>();
        try {
            Bootstrap b = new Bootstrap()
                    .group(group)
                    .channel(Transport.socketChannel())
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) TIMEOUT.toMillis())
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            if (proxy != null) { // the same egress proxy the agent uses
                                ch.pipeline().addLast("proxy", EgressProxy.handler(proxy));
                            }
                            ch.pipeline().addLast("tls", ssl.newHandler(ch.alloc(), gateway.host(), gateway.port()));
                            ch.pipeline().addLast("alpn", new Alpn(gateway, token, csr, answer));
                        }
                    });
            b.connect(InetSocketAddress.createUnresolved(gateway.host(), gateway.port()))
                    .addListener(f -> {
                        if (!f.isSuccess()) {
                            answer.completeExceptionally(new IOException(
                                    "gateway " + gateway + ": cannot connect: " + Causes.root(f.cause())));
                        }
                    });
            try {
                return answer.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
            } catch (TimeoutException e) {
                throw new IOException(
                        "gateway " + gateway + ": no answer to the enrollment within " + TIMEOUT.toSeconds() + " s");
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    private static final class Alpn extends ApplicationProtocolNegotiationHandler {
        private final HostAndPort gateway;
        private final String token;
        private final String csr;
        private final CompletableFuture<String> answer;

        Alpn(HostAndPort gateway, String token, String csr, CompletableFuture<String> answer) {
            super("");
            this.gateway = gateway;
            this.token = token;
            this.csr = csr;
            this.answer = answer;
        }

        @Override
        protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
            Channel ch = ctx.channel();
            if (!ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                answer.completeExceptionally(new IOException("gateway " + gateway + " did not agree to HTTP/2"));
                ctx.close();
                return;
            }
            ch.pipeline().addLast("h2", LinkSettings.clientCodec());
            ch.pipeline().addLast("streams", new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
            ch.closeFuture()
                    .addListener(f -> answer.completeExceptionally(new IOException(
                            "gateway " + gateway + " closed the link before answering the enrollment")));
            new Http2StreamChannelBootstrap(ch)
                    .handler(new Answer(gateway, answer))
                    .open()
                    .addListener(f -> {
                        if (!f.isSuccess()) {
                            answer.completeExceptionally(
                                    new IOException("cannot open the enrollment stream: " + Causes.root(f.cause())));
                            ch.close();
                            return;
                        }
                        Http2StreamChannel s = (Http2StreamChannel) f.getNow();
                        var h = new DefaultHttp2Headers()
                                .method("POST")
                                .path(Enrollment.PATH)
                                .scheme("https")
                                .authority(gateway.toString());
                        h.set("authorization", "Bearer " + token);
                        h.set("content-type", Enrollment.CONTENT_TYPE_CSR);
                        s.write(new DefaultHttp2HeadersFrame(h));
                        s.writeAndFlush(
                                new DefaultHttp2DataFrame(Unpooled.copiedBuffer(csr, StandardCharsets.US_ASCII), true));
                    });
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof SslHandshakeCompletionEvent done && !done.isSuccess()) {
                answer.completeExceptionally(
                        new IOException("gateway " + gateway + ": TLS handshake failed: " + Causes.root(done.cause())));
                ctx.close();
                return;
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            answer.completeExceptionally(new IOException("gateway " + gateway + ": " + Causes.root(cause)));
            ctx.close();
        }
    }

    /** The gateway's answer: 201 with the PEM chain, or a problem document. */
    private static final class Answer extends ChannelInboundHandlerAdapter {
        private final HostAndPort gateway;
        private final CompletableFuture<String> answer;
        private final ByteArrayOutputStream body = new ByteArrayOutputStream();
        private int status;

        Answer(HostAndPort gateway, CompletableFuture<String> answer) {
            this.gateway = gateway;
            this.answer = answer;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                boolean end;
                if (msg instanceof Http2HeadersFrame h) {
                    if (h.headers().status() != null) {
                        status = Integer.parseInt(h.headers().status().toString());
                    }
                    end = h.isEndStream();
                } else if (msg instanceof Http2DataFrame d) {
                    if (body.size() + d.content().readableBytes() <= MAX_ANSWER_BYTES) {
                        body.writeBytes(ByteBufUtil.getBytes(d.content()));
                    }
                    end = d.isEndStream();
                } else {
                    return;
                }
                if (end) {
                    String text = body.toString(StandardCharsets.UTF_8);
                    if (status == 201) {
                        answer.complete(text);
                    } else {
                        answer.completeExceptionally(new Refused(
                                status,
                                "gateway " + gateway + " refused the enrollment (" + status + "): "
                                        + problemDetail(text)));
                    }
                    ((Http2StreamChannel) ctx.channel()).parent().close();
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }
}
