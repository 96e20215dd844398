package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.gateway.pki.GatewayKeys;
import dev.underpass.protocol.SecretBox;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Encryption at rest of the gateway's private keys (ADR 0015), on the real gateway: a start with
 * {@link SecretBox#KEY_ENV} seals plaintext keys in place and serves the same certificate; a
 * start without the key, or with another one, stops with a clear error and changes nothing.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class GatewayKeysTest {
    @TempDir
    Path dir;

    static final GatewayConfig CONFIG = GatewayConfig.defaults()
            .withListen("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0");

    static SecretBox box() {
        return SecretBox.fromEnvironment(Map.of(SecretBox.KEY_ENV, SecretBox.newKeyText()), SecretBox.KEY_ENV);
    }

    Gateway start(SecretBox box) throws Exception {
        return Gateway.start(CONFIG, dir, new AuthFailures(), box);
    }

    @Test
    void plaintextKeysAreSealedOnAStartWithTheKeyAndTheGatewayServesTheSameCertificate() throws Exception {
        try (Gateway plain = start(null)) {
            assertThat(plain.agentAddress()).isNotNull();
        }
        Path tls = dir.resolve("tls");
        for (String f : GatewayKeys.KEY_FILES) {
            assertThat(Files.readString(tls.resolve(f))).as(f).startsWith("-----BEGIN PRIVATE KEY-----");
        }
        Certificate served = firstCertificate(tls.resolve("gateway.pem"));
        SecretBox box = box();
        try (Gateway sealed = start(box)) {
            for (String f : GatewayKeys.KEY_FILES) {
                assertThat(Files.readString(tls.resolve(f)))
                        .as(f)
                        .startsWith(SecretBox.PREFIX)
                        .doesNotContain("PRIVATE KEY");
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tls.resolve(f))))
                        .isEqualTo("rw-------");
            }
            assertThat(handshake(sealed, sealed.agentAddress().getPort())).isEqualTo(served);
            assertThat(handshake(sealed, sealed.apiAddress().getPort())).isEqualTo(served);
        }
        // And again, from the sealed files.
        try (Gateway again = start(box)) {
            assertThat(handshake(again, again.agentAddress().getPort())).isEqualTo(served);
        }
    }

    @Test
    void aFirstStartWithTheKeyWritesSealedKeys() throws Exception {
        try (Gateway g = start(box())) {
            for (String f : GatewayKeys.KEY_FILES) {
                assertThat(Files.readString(dir.resolve("tls").resolve(f)))
                        .as(f)
                        .startsWith(SecretBox.PREFIX);
            }
            assertThat(handshake(g, g.agentAddress().getPort()))
                    .isEqualTo(firstCertificate(dir.resolve("tls/gateway.pem")));
        }
    }

    @Test
    void sealedKeysWithoutTheKeyOrWithAnotherStopTheStartAndChangeNothing() throws Exception {
        try (Gateway g = start(box())) {
            assertThat(g.agentAddress()).isNotNull();
        }
        Map<String, byte[]> before = snapshot();
        assertThatThrownBy(() -> start(null))
                .hasMessage("tls/ca-key.pem is encrypted; set UNDERPASS_SECRET_KEY to the key it was sealed with");
        Map<String, byte[]> unchanged = snapshot();
        before.forEach((name, bytes) -> assertThat(unchanged.get(name)).as(name).isEqualTo(bytes));
        assertThatThrownBy(() -> start(box()))
                .hasMessageStartingWith("tls/ca-key.pem is encrypted and UNDERPASS_SECRET_KEY does not open it");
        Map<String, byte[]> after = snapshot();
        assertThat(after).containsOnlyKeys(before.keySet());
        before.forEach((name, bytes) -> assertThat(after.get(name)).as(name).isEqualTo(bytes));
    }

    @Test
    void resealingMovesTheKeysToANewKeyAndTheOldOneStopsWorking() throws Exception {
        SecretBox old = box();
        try (Gateway g = start(old)) {
            assertThat(g.agentAddress()).isNotNull();
        }
        Certificate served = firstCertificate(dir.resolve("tls/gateway.pem"));
        SecretBox next = box();
        Map<String, byte[]> before = snapshot();
        // A wrong current key changes nothing.
        assertThatThrownBy(() -> GatewayKeys.reseal(dir, box(), next)).hasMessageContaining("does not open it");
        Map<String, byte[]> unchanged = snapshot();
        before.forEach((name, bytes) -> assertThat(unchanged.get(name)).as(name).isEqualTo(bytes));

        assertThat(GatewayKeys.reseal(dir, old, next)).hasSize(GatewayKeys.KEY_FILES.size());
        // Run again (as after an interruption): the keys already open with the new key and stay.
        assertThat(GatewayKeys.reseal(dir, old, next)).isEmpty();
        assertThatThrownBy(() -> start(old)).hasMessageContaining("does not open it");
        try (Gateway g = start(next)) {
            assertThat(handshake(g, g.agentAddress().getPort())).isEqualTo(served);
        }
    }

    /** Every file under the data directory's tls/, by name, with its content. */
    private Map<String, byte[]> snapshot() throws Exception {
        Map<String, byte[]> files = new TreeMap<>();
        try (var list = Files.list(dir.resolve("tls"))) {
            for (Path p : list.toList()) {
                files.put(p.getFileName().toString(), Files.readAllBytes(p));
            }
        }
        return files;
    }

    private static Certificate firstCertificate(Path pem) throws Exception {
        try (InputStream in = Files.newInputStream(pem)) {
            return CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    /** The certificate a TLS 1.3 handshake with the gateway's port presents, verified against its CA. */
    private static Certificate handshake(Gateway g, int port) throws Exception {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        ks.setCertificateEntry("ca", firstCertificate(g.caFile()));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLSv1.3");
        ctx.init(null, tmf.getTrustManagers(), null);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port)) {
            s.setSoTimeout(20_000);
            s.startHandshake();
            return s.getSession().getPeerCertificates()[0];
        }
    }
}
