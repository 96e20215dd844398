package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.gateway.AgentLinks.Stream;
import dev.underpass.gateway.pki.AgentCertificateAuthority;
import dev.underpass.protocol.ControlMessage;
import dev.underpass.protocol.Enrollment;
import dev.underpass.protocol.Protocol;
import dev.underpass.protocol.Tls;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.ssl.SslContext;
import java.io.InputStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutual-TLS enrollment on the real gateway's agent port, spoken to as an agent would
 * (ADR 0015): a one-time token and a certificate request in, a client certificate out; then a
 * session with that certificate and no token; refusals of reused, raced, expired and unknown
 * tokens, of bad requests, of certificates of another CA, and of revoked certificates; one stream per
 * link before a session, and the failure limits checked before a request is read.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class AgentEnrollmentTest {
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    final AtomicLong nanos = new AtomicLong();
    Gateway gateway;
    ControlPlane cp;
    Principal acme;
    EventLoopGroup group;

    @BeforeEach
    void start() throws Exception {
        gateway = AgentLinks.start(dir, new AuthFailures(AuthFailures.Limits.DEFAULTS, nanos::get));
        cp = gateway.controlPlane();
        acme = AgentLinks.account(cp, AgentLinks.operator(cp, dir), "acme");
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterEach
    void stop() throws Exception {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        gateway.close();
    }

    /** A status and body the gateway answered on one stream. */
    record Answer(int status, String body) {}

    @Test
    void anEnrolledAgentOpensASessionWithItsCertificateAndNoToken() throws Exception {
        AgentEnrollments.Created e =
                cp.agentEnrollments().create(acme, new AgentEnrollments.CreateRequest("dc1", null));
        assertThat(e.token()).startsWith("upe_");
        assertThat(e.enrollment().expiresAt())
                .isBetween(
                        Instant.now().plus(Duration.ofMinutes(59)),
                        Instant.now().plus(Duration.ofMinutes(61)));
        KeyPair keys = ecKeys();
        Answer a = enroll(e.token(), csr(keys, keys));
        assertThat(a.status()).as(a.body()).isEqualTo(201);

        List<X509Certificate> chain = certificates(a.body());
        assertThat(chain).hasSize(2);
        X509Certificate leaf = chain.get(0);
        X509Certificate agentCa = readCertificate(dir.resolve("tls/agent-ca.pem"));
        assertThat(chain.get(1)).isEqualTo(agentCa);
        leaf.verify(agentCa.getPublicKey());
        assertThat(leaf.getPublicKey()).isEqualTo(keys.getPublic());
        String id = leaf.getSubjectX500Principal().getName().replaceFirst("^CN=", "");
        assertThat(id).matches("agc-[0-9a-f]{16}");
        assertThat(leaf.getExtendedKeyUsage()).containsExactly(KeyPurposeId.id_kp_clientAuth.getId());
        assertThat(leaf.getSubjectAlternativeNames()).containsExactly(List.of(6, "underpass:agent:acme/dc1"));
        assertThat(leaf.getNotAfter().toInstant())
                .isBetween(
                        Instant.now().plus(Duration.ofDays(89)), Instant.now().plus(Duration.ofDays(91)));
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        // The gateway's server CA did not sign it: a client certificate can never pass as the gateway.
        assertThat(leaf.getIssuerX500Principal())
                .isNotEqualTo(readCertificate(gateway.caFile()).getSubjectX500Principal());

        Page<AgentEnrollments.CertificateView> certs = cp.agentEnrollments().certificates(acme, Page.Request.first());
        assertThat(certs.items()).singleElement().satisfies(c -> {
            assertThat(c.id()).isEqualTo(id);
            assertThat(c.name()).isEqualTo("dc1");
            assertThat(c.status().text()).isEqualTo("active");
            assertThat(c.enrollmentId()).isEqualTo(e.enrollment().id());
            assertThat(c.fingerprint()).isEqualTo("sha256:" + AgentCertificateAuthority.fingerprint(leaf));
        });
        assertThat(cp.agentEnrollments().list(acme, Page.Request.first()).items())
                .singleElement()
                .satisfies(v -> assertThat(v.status().text()).isEqualTo("used"));

        Channel link = connect(a.body(), keys);
        Stream session = openSession(link);
        Http2HeadersFrame ok = session.headers();
        assertThat(ok.headers().status().toString()).isEqualTo("200");
        assertThat(ok.headers().get(Protocol.HEADER_ACCOUNT).toString()).isEqualTo("acme");
        assertThat(link.isActive()).isTrue();
    }

    @Test
    void aTokenWorksOnce() throws Exception {
        String token = cp.agentEnrollments()
                .create(acme, new AgentEnrollments.CreateRequest("dc1", null))
                .token();
        KeyPair keys = ecKeys();
        assertThat(enroll(token, csr(keys, keys)).status()).isEqualTo(201);
        Answer again = enroll(token, csr(keys, keys));
        assertThat(again.status()).isEqualTo(401);
        assertThat(again.body()).contains("enrollment token already used");
        assertThat(cp.agentEnrollments()
                        .certificates(acme, Page.Request.first())
                        .items())
                .hasSize(1);
    }

    @Test
    void agentsRacingWithOneTokenGetExactlyOneCertificate() throws Exception {
        String token = cp.agentEnrollments()
                .create(acme, new AgentEnrollments.CreateRequest("dc1", null))
                .token();
        int racers = 6;
        List<Callable<Answer>> tries = new ArrayList<>();
        for (int i = 0; i < racers; i++) {
            KeyPair keys = ecKeys();
            String request = csr(keys, keys);
            tries.add(() -> enroll(token, request));
        }
        ExecutorService pool = Executors.newFixedThreadPool(racers);
        List<Answer> answers = new ArrayList<>();
        try {
            for (Future<Answer> f : pool.invokeAll(tries)) {
                answers.add(f.get());
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(answers.stream().filter(a -> a.status() == 201))
                .as("%s", answers)
                .hasSize(1);
        assertThat(answers.stream().filter(a -> a.status() == 401))
                .as("%s", answers)
                .hasSize(racers - 1);
        assertThat(cp.agentEnrollments()
                        .certificates(acme, Page.Request.first())
                        .items())
                .hasSize(1);
    }

    @Test
    void anExpiredUnknownOrMissingTokenIsRefused() throws Exception {
        AgentEnrollments.Created e = cp.agentEnrollments().create(acme, new AgentEnrollments.CreateRequest("dc1", 1L));
        KeyPair keys = ecKeys();
        String request = csr(keys, keys);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!Instant.now().isAfter(e.enrollment().expiresAt()) && System.nanoTime() < deadline) {
            Thread.sleep(50); // the token's own expiry is the condition
        }
        Answer expired = enroll(e.token(), request);
        assertThat(expired.status()).isEqualTo(401);
        assertThat(expired.body()).contains("enrollment token expired");
        Answer unknown = enroll("upe_" + "x".repeat(43), request);
        assertThat(unknown.status()).isEqualTo(401);
        assertThat(unknown.body()).contains("enrollment token not recognised");
        // The token is checked before the request is parsed: garbage with an unknown token is 401 (and counts).
        Answer unknownGarbage = enroll("upe_" + "x".repeat(43), "this is not a certificate request");
        assertThat(unknownGarbage.status()).isEqualTo(401);
        assertThat(unknownGarbage.body()).contains("enrollment token not recognised");
        Answer none = enroll(null, request);
        assertThat(none.status()).isEqualTo(401);
        assertThat(none.body()).contains("no enrollment token");
        assertThat(cp.agentEnrollments()
                        .certificates(acme, Page.Request.first())
                        .items())
                .isEmpty();
    }

    @Test
    void aBadRequestIs400AndRecordsNothing() throws Exception {
        String token = cp.agentEnrollments()
                .create(acme, new AgentEnrollments.CreateRequest("dc1", null))
                .token();
        Answer garbage = enroll(token, "this is not a certificate request");
        assertThat(garbage.status()).isEqualTo(400);
        assertThat(garbage.body()).contains("certificate request");
        KeyPair keys = ecKeys();
        Answer forged = enroll(token, csr(keys, ecKeys())); // carries one key, signed with another
        assertThat(forged.status()).isEqualTo(400);
        assertThat(forged.body()).contains("signature does not verify");
        assertThat(cp.agentEnrollments()
                        .certificates(acme, Page.Request.first())
                        .items())
                .isEmpty();
        assertThat(cp.agentEnrollments().list(acme, Page.Request.first()).items())
                .singleElement()
                .satisfies(v -> assertThat(v.status().text()).isEqualTo("pending"));
        // Nothing was used up: the same token still enrolls.
        assertThat(enroll(token, csr(keys, keys)).status()).isEqualTo(201);
    }

    @Test
    void aCertificateOfAnotherCaIsRefused() throws Exception {
        KeyPair caKeys = ecKeys();
        KeyPair keys = ecKeys();
        X500Name ca = new X500Name("CN=Not the agent CA");
        Instant now = Instant.now();
        var b = new JcaX509v3CertificateBuilder(
                ca,
                BigInteger.TEN,
                Date.from(now.minusSeconds(60)),
                Date.from(now.plus(Duration.ofDays(1))),
                new X500Name("CN=agc-0123456789abcdef"),
                keys.getPublic());
        b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
        X509CertificateHolder forged =
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKeys.getPrivate()));
        String pem = pem(new JcaX509CertificateConverter().getCertificate(forged));

        Channel link = connect(pem, keys);
        Stream session;
        try {
            session = openSession(link);
        } catch (Exception refusedAtTls) {
            assertThat(link.closeFuture().await(WAIT.toMillis()))
                    .as("link closed")
                    .isTrue();
            return;
        }
        Object first = session.frames().poll(WAIT.toSeconds(), TimeUnit.SECONDS);
        if (first instanceof Http2HeadersFrame h) {
            assertThat(h.headers().status().toString()).isEqualTo("401");
        }
        assertThat(link.closeFuture().await(WAIT.toMillis()))
                .as("link closed, no session")
                .isTrue();
    }

    @Test
    void aRevokedCertificateEndsItsSessionAndIsRefusedAfterwards() throws Exception {
        String token = cp.agentEnrollments()
                .create(acme, new AgentEnrollments.CreateRequest("dc1", null))
                .token();
        KeyPair keys = ecKeys();
        Answer a = enroll(token, csr(keys, keys));
        assertThat(a.status()).isEqualTo(201);
        Channel link = connect(a.body(), keys);
        Stream session = openSession(link);
        assertThat(session.headers().headers().status().toString()).isEqualTo("200");
        String id = cp.agentEnrollments()
                .certificates(acme, Page.Request.first())
                .items()
                .getFirst()
                .id();

        assertThat(cp.agentEnrollments().revokeCertificate(acme, id).status().text())
                .isEqualTo("revoked");
        assertThat(link.closeFuture().await(WAIT.toMillis()))
                .as("live session ended")
                .isTrue();
        // Each change is in acme's audit log: who created the enrollment, which enrollment was issued what, who revoked
        // it.
        var audit = cp.audit()
                .events()
                .list(acme, null, dev.underpass.controlplane.audit.AuditEvents.Filter.ALL, Page.Request.first())
                .items();
        assertThat(audit)
                .extracting(r -> r.action() + " " + r.actor().replaceFirst(" \\(key .*\\)$", ""))
                .contains(
                        "agentEnrollment.create owner@acme",
                        "agentCertificate.issue enrollment "
                                + cp.agentEnrollments()
                                        .certificates(acme, Page.Request.first())
                                        .items()
                                        .getFirst()
                                        .enrollmentId(),
                        "agentCertificate.revoke owner@acme");

        Channel again = connect(a.body(), keys);
        Stream refused = openSession(again);
        assertThat(refused.headers().headers().status().toString()).isEqualTo("401");
        Object body = refused.frames().poll(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat((String) body).contains("agent certificate " + id + " was revoked");
        assertThat(again.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();
    }

    @Test
    void aSecondStreamBeforeASessionIsRefusedAndEndsTheLink() throws Exception {
        String token = cp.agentEnrollments()
                .create(acme, new AgentEnrollments.CreateRequest("dc1", null))
                .token();
        Channel link = connect(null, null);
        open(link, enrollHeaders(token), null); // its request body is still to come
        Stream second = open(link, enrollHeaders(token), null);
        assertThat(second.headers().headers().status().toString()).isEqualTo("409");
        Object body = second.frames().poll(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat((String) body).contains("already opened its one stream before a session");
        assertThat(link.closeFuture().await(WAIT.toMillis())).as("link closed").isTrue();
        // Nothing was used up: the token still enrolls on a new link.
        KeyPair keys = ecKeys();
        assertThat(enroll(token, csr(keys, keys)).status()).isEqualTo(201);
    }

    @Test
    void overTheFailureLimitTheRequestIsNotEvenRead() throws Exception {
        String unknown = "upe_" + "y".repeat(43);
        KeyPair own = ecKeys();
        String request = csr(own, own);
        for (int i = 0; i < AuthFailures.Limits.DEFAULTS.perPrincipal(); i++) {
            Answer a = enroll(unknown, request);
            assertThat(a.status()).as(a.body()).isEqualTo(401);
            assertThat(a.body()).contains("enrollment token not recognised");
        }
        // Over the limit the same token is refused as it was, without a store lookup, and the request is not
        // read: garbage is 429 too, not 400.
        Answer limited = enroll(unknown, "this is not a certificate request");
        assertThat(limited.status()).as(limited.body()).isEqualTo(429);
        assertThat(limited.body())
                .contains("too many failed authentication attempts with enrollment token upe_yyyyyyyy");
        // Another token from the same source is within its limits and still enrolls.
        String token = cp.agentEnrollments()
                .create(acme, new AgentEnrollments.CreateRequest("dc1", null))
                .token();
        KeyPair keys = ecKeys();
        assertThat(enroll(token, csr(keys, keys)).status()).isEqualTo(201);
    }

    // --- the agent's side, by hand ---

    static KeyPair ecKeys() throws Exception {
        KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
        gen.initialize(new ECGenParameterSpec("secp256r1"));
        return gen.generateKeyPair();
    }

    /** A PEM request for {@code subject}'s public key, signed with {@code signer}'s private key. */
    static String csr(KeyPair subject, KeyPair signer) throws Exception {
        var b = new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=admin, O=ignored"), subject.getPublic());
        return pem(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate())));
    }

    static String pem(Object o) throws Exception {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter p = new JcaPEMWriter(w)) {
            p.writeObject(o);
        }
        return w.toString();
    }

    static List<X509Certificate> certificates(String pem) throws Exception {
        List<X509Certificate> out = new ArrayList<>();
        try (PEMParser p = new PEMParser(new StringReader(pem))) {
            for (Object o = p.readObject(); o != null; o = p.readObject()) {
                out.add(new JcaX509CertificateConverter().getCertificate((X509CertificateHolder) o));
            }
        }
        return out;
    }

    static X509Certificate readCertificate(Path file) throws Exception {
        try (InputStream in = Files.newInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    /** A link to the agent port, with a client certificate when {@code chainPem} is not null. */
    private Channel connect(String chainPem, KeyPair keys) throws Exception {
        TrustManagerFactory trust = AgentLinks.gatewayTrust(gateway);
        SslContext ssl = chainPem == null
                ? Tls.client(trust, true)
                : Tls.client(
                        trust,
                        true,
                        chainPem.getBytes(StandardCharsets.US_ASCII),
                        pem(new JcaPKCS8Generator(keys.getPrivate(), null)).getBytes(StandardCharsets.US_ASCII));
        return AgentLinks.connect(group, gateway, ssl);
    }

    /** A stream with {@code headers} and then {@code body} (ending the request); with no body the request stays open. */
    private static Stream open(Channel link, Http2Headers headers, String body) throws Exception {
        Stream s = AgentLinks.stream(link);
        s.channel().write(new DefaultHttp2HeadersFrame(headers, false));
        if (body != null) {
            s.channel().write(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(body, StandardCharsets.US_ASCII), true));
        }
        s.channel().flush();
        return s;
    }

    /** A session request with no token, and the advertise an agent sends with it. */
    private static Stream openSession(Channel link) throws Exception {
        Http2Headers h = AgentLinks.sessionHeaders(null, "2");
        h.set(Protocol.HEADER_AGENT, "enrolled");
        Stream s = open(link, h, null);
        s.send(new ControlMessage.Advertise("test", List.of("127.0.0.1:7")));
        return s;
    }

    private static Http2Headers enrollHeaders(String token) {
        Http2Headers h = AgentLinks.post(Enrollment.PATH);
        if (token != null) {
            h.set("authorization", "Bearer " + token);
        }
        return h;
    }

    /** One enrollment on a fresh link (no client certificate): the status and body answered. */
    private Answer enroll(String token, String body) throws Exception {
        Channel link = connect(null, null);
        try {
            Stream s = open(link, enrollHeaders(token), body);
            int status = Integer.parseInt(s.headers().headers().status().toString());
            StringBuilder text = new StringBuilder();
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                Object f = s.frames().poll(100, TimeUnit.MILLISECONDS);
                if (f instanceof String chunk) {
                    text.append(chunk);
                }
                if (!s.channel().isActive() && s.frames().isEmpty()) {
                    break;
                }
            }
            return new Answer(status, text.toString());
        } finally {
            link.close().sync();
        }
    }
}
