package dev.underpass.gateway.pki;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.protocol.Tls;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GatewayCertificatesTest {
    private static final int SAN_DNS = 2;
    private static final int SAN_IP = 7;

    @TempDir
    Path dir;

    private static List<X509Certificate> read(Path pem) throws Exception {
        try (InputStream in = Files.newInputStream(pem)) {
            List<X509Certificate> certs = new ArrayList<>();
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                certs.add((X509Certificate) c);
            }
            return certs;
        }
    }

    @Test
    void createsCaCertificateAndPrivateKeyReadableOnlyByTheOwner() throws Exception {
        Path tls = dir.resolve("tls");
        GatewayCertificates g = GatewayCertificates.ensure(tls, List.of("gateway.example.com", "127.0.0.1"));

        assertThat(g.caFile()).isEqualTo(tls.resolve("ca.pem")).isRegularFile();
        assertThat(g.certificateFile()).isEqualTo(tls.resolve("gateway.pem")).isRegularFile();
        assertThat(g.privateKeyFile()).isEqualTo(tls.resolve("gateway-key.pem")).isRegularFile();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(g.privateKeyFile())))
                .isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tls.resolve("ca-key.pem"))))
                .isEqualTo("rw-------");
        assertThat(Files.readString(g.privateKeyFile())).contains("-----BEGIN PRIVATE KEY-----");
    }

    @Test
    void secondEnsureReusesTheFiles() throws Exception {
        Path tls = dir.resolve("tls");
        GatewayCertificates first = GatewayCertificates.ensure(tls, List.of("localhost"));
        String caPrint = GatewayCertificates.fingerprint(first.caFile());
        String certPrint = GatewayCertificates.fingerprint(first.certificateFile());
        String key = Files.readString(first.privateKeyFile());

        GatewayCertificates second = GatewayCertificates.ensure(tls, List.of("localhost"));

        assertThat(GatewayCertificates.fingerprint(second.caFile())).isEqualTo(caPrint);
        assertThat(GatewayCertificates.fingerprint(second.certificateFile())).isEqualTo(certPrint);
        assertThat(Files.readString(second.privateKeyFile())).isEqualTo(key);
    }

    @Test
    void serverCertificateChainsToTheCaAndCarriesTheNames() throws Exception {
        GatewayCertificates g = GatewayCertificates.ensure(dir, List.of("gateway.example.com", "10.1.2.3", "::1"));
        X509Certificate ca = read(g.caFile()).get(0);
        List<X509Certificate> chain = read(g.certificateFile());
        X509Certificate server = chain.get(0);

        assertThat(chain).hasSize(2);
        assertThat(chain.get(1)).isEqualTo(ca);
        assertThat(ca.getBasicConstraints()).isGreaterThanOrEqualTo(0);
        assertThat(server.getBasicConstraints()).isEqualTo(-1);
        server.verify(ca.getPublicKey());
        assertThat(server.getIssuerX500Principal()).isEqualTo(ca.getSubjectX500Principal());
        assertThat(server.getExtendedKeyUsage()).contains("1.3.6.1.5.5.7.3.1"); // serverAuth

        // The chain validates the way a TLS client validates it, with the CA as the only anchor.
        PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(ca, null)));
        params.setRevocationEnabled(false);
        CertPathValidator.getInstance("PKIX")
                .validate(CertificateFactory.getInstance("X.509").generateCertPath(List.of(server)), params);

        List<String> dns = new ArrayList<>();
        List<InetAddress> ips = new ArrayList<>();
        for (List<?> san : server.getSubjectAlternativeNames()) {
            if ((Integer) san.get(0) == SAN_DNS) {
                dns.add((String) san.get(1));
            } else if ((Integer) san.get(0) == SAN_IP) {
                ips.add(InetAddress.getByName((String) san.get(1)));
            }
        }
        assertThat(dns).containsExactly("gateway.example.com");
        assertThat(ips).containsExactlyInAnyOrder(InetAddress.getByName("10.1.2.3"), InetAddress.getByName("::1"));
    }

    @Test
    void generatedFilesLoadAsTheGatewaysTlsServerContext() throws Exception {
        GatewayCertificates g = GatewayCertificates.ensure(dir, List.of("localhost", "127.0.0.1"));
        SslContext ssl =
                Tls.server(g.certificateFile().toFile(), g.privateKeyFile().toFile());
        assertThat(ssl.isServer()).isTrue();
        assertThat(ssl.applicationProtocolNegotiator().protocols()).containsExactly("h2");
    }

    @Test
    void fingerprintIsSha256OfTheFirstCertificateInLowercaseHex() throws Exception {
        GatewayCertificates g = GatewayCertificates.ensure(dir, List.of("localhost"));
        String print = GatewayCertificates.fingerprint(g.caFile());

        assertThat(print).matches("sha256:[0-9a-f]{64}");
        byte[] der = read(g.caFile()).get(0).getEncoded();
        assertThat(print)
                .isEqualTo("sha256:"
                        + HexFormat.of()
                                .formatHex(MessageDigest.getInstance("SHA-256").digest(der)));
        // The server PEM starts with the server certificate, not the CA.
        assertThat(GatewayCertificates.fingerprint(g.certificateFile())).isNotEqualTo(print);
    }

    @Test
    void fingerprintOfSomethingElseFailsNamingTheFile() throws Exception {
        Path notPem = dir.resolve("not.pem");
        Files.writeString(notPem, "hello\n");
        assertThatThrownBy(() -> GatewayCertificates.fingerprint(notPem))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(notPem.toString());
    }

    @Test
    void aConfiguredNameMissingFromTheGeneratedCertificateIsAddedByReissuingItFromTheSameCa() throws Exception {
        Path tls = dir.resolve("tls");
        GatewayCertificates first = GatewayCertificates.ensure(tls, List.of("localhost", "127.0.0.1"));
        String caPrint = GatewayCertificates.fingerprint(first.caFile());
        String certPrint = GatewayCertificates.fingerprint(first.certificateFile());

        // The operator adds serverNames after the first start (issue 12: it changed nothing, silently).
        GatewayCertificates second =
                GatewayCertificates.ensure(tls, List.of("gw.example.com", "localhost", "198.18.0.1"));

        assertThat(GatewayCertificates.fingerprint(second.caFile()))
                .as("the CA agents trust or pin")
                .isEqualTo(caPrint);
        assertThat(GatewayCertificates.fingerprint(second.certificateFile())).isNotEqualTo(certPrint);
        assertThat(GatewayCertificates.missing(
                        second.certificateFile(), List.of("gw.example.com", "localhost", "198.18.0.1")))
                .isEmpty();
        X509Certificate ca = read(second.caFile()).get(0);
        read(second.certificateFile()).get(0).verify(ca.getPublicKey());
        assertThat(Tls.server(
                                second.certificateFile().toFile(),
                                second.privateKeyFile().toFile())
                        .isServer())
                .isTrue();
        // Nothing missing: nothing rewritten.
        String reissued = GatewayCertificates.fingerprint(second.certificateFile());
        GatewayCertificates.ensure(tls, List.of("198.18.0.1"));
        assertThat(GatewayCertificates.fingerprint(second.certificateFile())).isEqualTo(reissued);
    }

    @Test
    void theGeneratedCertificateCoversThisHostsNamesAddressesAndListenAddresses() throws Exception {
        List<String> names =
                GatewayCertificates.certificateNames(List.of("gw.example.com"), List.of("0.0.0.0", "198.18.7.7"));

        assertThat(names.getFirst())
                .as("the configured name comes first: it is the subject")
                .isEqualTo("gw.example.com");
        assertThat(names)
                .contains(
                        "localhost",
                        "127.0.0.1",
                        "::1",
                        "198.18.7.7",
                        InetAddress.getLocalHost().getHostName())
                .doesNotContain("0.0.0.0");
        List<InetAddress> addresses = new ArrayList<>();
        for (String n : names) {
            if (GatewayCertificates.isLiteral(n)) {
                addresses.add(InetAddress.getByName(n));
            }
        }
        assertThat(addresses).as("each address once").doesNotHaveDuplicates();
        for (var nic : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
            for (InetAddress a : java.util.Collections.list(nic.getInetAddresses())) {
                if (nic.isUp() && !a.isLinkLocalAddress()) {
                    assertThat(addresses)
                            .contains(InetAddress.getByName(a.getHostAddress().replaceAll("%.*", "")));
                }
            }
        }
    }
}
