package dev.underpass.agent.link;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.agent.config.AgentConfig;
import dev.underpass.protocol.SealedFiles;
import dev.underpass.protocol.SecretBox;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An enrolled agent's configuration: one credential only, and its client key plain or sealed. */
class ClientCertificateTest {
    @TempDir
    Path dir;

    private AgentConfig config(String tokenFile, String cert, String key) {
        return new AgentConfig(
                "gw.example.com:8443",
                null,
                null,
                tokenFile,
                null,
                null,
                null,
                null,
                null,
                null,
                List.of("db:5432"),
                null,
                null,
                cert,
                key,
                null,
                null,
                null,
                null);
    }

    private static List<String> credentialErrors(AgentConfig c) {
        return c.validate().stream()
                .filter(e -> e.startsWith("token") || e.startsWith("credentials") || e.startsWith("client"))
                .toList();
    }

    @Test
    void aClientCertificateIsOneCredentialAndATokenBesideItIsAnError() throws Exception {
        Path cert = Files.writeString(dir.resolve("client.pem"), "c");
        Path key = Files.writeString(dir.resolve("client-key.pem"), "k");
        Path token = Files.writeString(dir.resolve("token"), "upa_x");
        assertThat(credentialErrors(config(null, cert.toString(), key.toString())))
                .isEmpty();
        assertThat(config(null, cert.toString(), key.toString()).usesClientCertificate())
                .isTrue();
        assertThat(credentialErrors(config(token.toString(), cert.toString(), key.toString())))
                .containsExactly(
                        "credentials: tokenFile and clientCert (expected: exactly one of them; an agent authenticates one way)");
        assertThat(credentialErrors(config(null, cert.toString(), null)))
                .containsExactly(
                        "clientKey: missing (expected: with clientCert, the key from 'underpass agent enroll', client-key.pem)");
        assertThat(credentialErrors(config(null, dir.resolve("nope.pem").toString(), key.toString())))
                .containsExactly("clientCert: " + dir.resolve("nope.pem") + " (expected: a readable PEM file)");
    }

    @Test
    void aSealedClientKeyLoadsWithItsKeyAndOnlyWithIt() throws Exception {
        KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
        gen.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair keys = gen.generateKeyPair();
        X500Name name = new X500Name("CN=agc-0123456789abcdef");
        var holder = new JcaX509v3CertificateBuilder(
                        name,
                        BigInteger.ONE,
                        Date.from(Instant.now().minusSeconds(60)),
                        Date.from(Instant.now().plusSeconds(3600)),
                        name,
                        keys.getPublic())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate()));
        Path cert = Files.writeString(dir.resolve("client.pem"), pem(holder));
        Path key = dir.resolve("client-key.pem");
        SecretBox box = SecretBox.fromEnvironment(Map.of("K", SecretBox.newKeyText()), "K");
        SealedFiles.writePrivate(
                key,
                pem(new JcaPKCS8Generator(keys.getPrivate(), null)).getBytes(StandardCharsets.US_ASCII),
                ClientCertificate.PURPOSE,
                box);
        AgentConfig c = config(null, cert.toString(), key.toString());

        assertThat(ClientCertificate.sslContext(c, box).isClient()).isTrue();
        assertThatThrownBy(() -> ClientCertificate.sslContext(c, null))
                .hasMessage(
                        "clientKey " + key + " is encrypted; set UNDERPASS_SECRET_KEY to the key it was sealed with");
        assertThatThrownBy(() -> ClientCertificate.sslContext(
                        c, SecretBox.fromEnvironment(Map.of("K", SecretBox.newKeyText()), "K")))
                .hasMessageContaining("does not open it");
    }

    private static String pem(Object o) throws Exception {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter p = new JcaPEMWriter(w)) {
            p.writeObject(o);
        }
        return w.toString();
    }
}
