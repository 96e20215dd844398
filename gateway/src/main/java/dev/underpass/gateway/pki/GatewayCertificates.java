package dev.underpass.gateway.pki;

import dev.underpass.protocol.SealedFiles;
import java.io.IOException;
import java.io.Writer;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's own certificate authority and server certificate, generated under the data
 * directory on first start when no certificate is configured. Agents trust the CA file or pin
 * its SHA-256 fingerprint.
 */
public final class GatewayCertificates {
    private static final Logger log = LoggerFactory.getLogger(GatewayCertificates.class);
    static final Duration CA_VALIDITY = Duration.ofDays(3650);
    static final Duration SERVER_VALIDITY = Duration.ofDays(825);

    private final Path caFile;
    private final Path certificateFile;
    private final Path privateKeyFile;

    private GatewayCertificates(Path caFile, Path certificateFile, Path privateKeyFile) {
        this.caFile = caFile;
        this.certificateFile = certificateFile;
        this.privateKeyFile = privateKeyFile;
    }

    /** Loads, or creates on first start, the CA and server certificate in {@code dir}; keys in plaintext. */
    public static GatewayCertificates ensure(Path dir, List<String> serverNames) throws IOException {
        return ensure(dir, serverNames, null);
    }

    /**
     * Loads, or creates on first start, the CA and server certificate in {@code dir}; new private
     * keys are sealed with {@code box} when it is not null (see {@link GatewayKeys}). A server
     * certificate that lacks one of {@code serverNames} (the configuration changed, the host got
     * another address) is issued again from the same CA, with one log line, so that agents that
     * trust the CA or pin it go on trusting the gateway. Only this generated certificate is ever
     * rewritten: an operator's own ({@code tls:} in the configuration) never comes here.
     */
    public static GatewayCertificates ensure(Path dir, List<String> serverNames, dev.underpass.protocol.SecretBox box)
            throws IOException {
        Path ca = dir.resolve("ca.pem");
        Path caKey = dir.resolve("ca-key.pem");
        Path cert = dir.resolve("gateway.pem");
        Path key = dir.resolve("gateway-key.pem");
        try {
            if (!(Files.exists(ca) && Files.exists(cert) && Files.exists(key))) {
                Files.createDirectories(dir);
                generate(ca, cert, key, caKey, serverNames, box);
                log.info("generated gateway CA {} and certificate {} for {}", ca, cert, serverNames);
            } else if (Files.exists(caKey)) {
                List<String> missing = missing(cert, serverNames);
                if (!missing.isEmpty()) {
                    X509CertificateHolder caCert =
                            new X509CertificateHolder(readFirst(ca).getEncoded());
                    PrivateKey caPrivate = AgentCertificateAuthority.privateKey(
                            SealedFiles.read(caKey, "tls/ca-key.pem", GatewayKeys.purpose(caKey), box),
                            "tls/ca-key.pem");
                    issueServer(caCert, caPrivate, serverNames, cert, key, box);
                    log.info(
                            "re-issued the gateway certificate {} from its CA {} for {}: it did not cover {}",
                            cert,
                            ca,
                            serverNames,
                            missing);
                }
            }
        } catch (GeneralSecurityException | org.bouncycastle.operator.OperatorCreationException e) {
            throw new IOException("cannot generate the gateway certificate: " + e.getMessage(), e);
        }
        return new GatewayCertificates(ca, cert, key);
    }

    /**
     * The names a generated certificate covers: the configured {@code serverNames} first (the
     * first is its subject), then localhost and the loopback addresses, this host's name and the
     * addresses of its interfaces, and the specific addresses the gateway listens on. So an agent
     * on another host that dials the gateway by its address or host name passes the name check
     * with no configuration (issue 12).
     */
    static List<String> certificateNames(List<String> serverNames, List<String> listenHosts) {
        // An address counts once however it is written (::1 and 0:0:0:0:0:0:0:1); its first spelling stays.
        java.util.Map<String, String> names = new java.util.LinkedHashMap<>();
        java.util.function.Consumer<String> add = n -> names.putIfAbsent(canonical(n), n);
        serverNames.forEach(add);
        List.of("localhost", "127.0.0.1", "::1").forEach(add);
        try {
            add.accept(InetAddress.getLocalHost().getHostName());
        } catch (IOException unknown) {
            // a host without a resolvable name: its addresses below still count
        }
        try {
            for (NetworkInterface nic : java.util.Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (!nic.isUp()) {
                    continue;
                }
                for (InetAddress a : java.util.Collections.list(nic.getInetAddresses())) {
                    if (!a.isLinkLocalAddress()) {
                        add.accept(literal(a));
                    }
                }
            }
        } catch (java.net.SocketException noInterfaces) {
            log.warn(
                    "cannot list this host's network interfaces for the gateway certificate: {}",
                    noInterfaces.getMessage());
        }
        for (String host : listenHosts) {
            if (!(host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]"))) {
                add.accept(host.startsWith("[") ? host.substring(1, host.length() - 1) : host);
            }
        }
        return List.copyOf(names.values());
    }

    private static String canonical(String name) {
        try {
            return isLiteral(name)
                    ? InetAddress.getByName(name).getHostAddress()
                    : name.toLowerCase(java.util.Locale.ROOT);
        } catch (java.net.UnknownHostException notLiteral) {
            return name;
        }
    }

    private static String literal(InetAddress a) {
        String text = a.getHostAddress();
        int scope = text.indexOf('%');
        return scope < 0 ? text : text.substring(0, scope);
    }

    /** Which of {@code names} the certificate in {@code pem} does not cover (DNS names and IP addresses alike). */
    static List<String> missing(Path pem, List<String> names) throws IOException, GeneralSecurityException {
        Set<String> covered = new java.util.HashSet<>();
        var sans = readFirst(pem).getSubjectAlternativeNames();
        if (sans != null) {
            for (List<?> san : sans) {
                Object value = san.get(1);
                if (value instanceof String text) {
                    covered.add(
                            isLiteral(text)
                                    ? InetAddress.getByName(text).getHostAddress()
                                    : text.toLowerCase(java.util.Locale.ROOT));
                }
            }
        }
        List<String> missing = new ArrayList<>();
        for (String n : names) {
            String key =
                    isLiteral(n) ? InetAddress.getByName(n).getHostAddress() : n.toLowerCase(java.util.Locale.ROOT);
            if (!covered.contains(key)) {
                missing.add(n);
            }
        }
        return missing;
    }

    private static X509Certificate readFirst(Path pem) throws IOException, GeneralSecurityException {
        try (var in = Files.newInputStream(pem)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    public Path caFile() {
        return caFile;
    }

    public Path certificateFile() {
        return certificateFile;
    }

    public Path privateKeyFile() {
        return privateKeyFile;
    }

    /** {@code sha256:<hex>} of the first certificate in a PEM file, the form agents pin. */
    public static String fingerprint(Path pem) throws IOException {
        try (var in = Files.newInputStream(pem)) {
            X509Certificate c =
                    (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            return "sha256:"
                    + HexFormat.of()
                            .formatHex(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IOException(pem + ": not a PEM certificate (" + e.getMessage() + ")", e);
        }
    }

    private static void generate(
            Path caOut,
            Path certOut,
            Path keyOut,
            Path caKeyOut,
            List<String> names,
            dev.underpass.protocol.SecretBox box)
            throws GeneralSecurityException, IOException, org.bouncycastle.operator.OperatorCreationException {
        KeyPair caKeys = keyPair();
        Instant now = Instant.now();
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        X500Name caName =
                new X500Name("CN=Underpass gateway CA " + HexFormat.of().toHexDigits(new SecureRandom().nextInt()));
        var caBuilder = new JcaX509v3CertificateBuilder(
                caName,
                serial(),
                Date.from(now.minus(Duration.ofHours(1))),
                Date.from(now.plus(CA_VALIDITY)),
                caName,
                caKeys.getPublic());
        caBuilder.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
        caBuilder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        caBuilder.addExtension(
                Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(caKeys.getPublic()));
        X509CertificateHolder caCert =
                caBuilder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKeys.getPrivate()));
        writePrivate(caKeyOut, caKeys.getPrivate(), GatewayKeys.purpose(caKeyOut), box);
        writePem(caOut, caCert);
        issueServer(caCert, caKeys.getPrivate(), names, certOut, keyOut, box);
    }

    /** A new server key and certificate for {@code names}, signed by the CA; the file holds it and the CA certificate. */
    private static void issueServer(
            X509CertificateHolder caCert,
            PrivateKey caPrivate,
            List<String> names,
            Path certOut,
            Path keyOut,
            dev.underpass.protocol.SecretBox box)
            throws GeneralSecurityException, IOException, org.bouncycastle.operator.OperatorCreationException {
        KeyPair serverKeys = keyPair();
        Instant now = Instant.now();
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        List<GeneralName> sans = new ArrayList<>();
        for (String n : names) {
            sans.add(
                    isAddress(n) ? new GeneralName(GeneralName.iPAddress, n) : new GeneralName(GeneralName.dNSName, n));
        }
        X500Name serverName = new X500Name("CN=" + (names.isEmpty() ? "underpass-gateway" : names.get(0)));
        var serverBuilder = new JcaX509v3CertificateBuilder(
                caCert.getSubject(),
                serial(),
                Date.from(now.minus(Duration.ofHours(1))),
                Date.from(now.plus(SERVER_VALIDITY)),
                serverName,
                serverKeys.getPublic());
        serverBuilder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        serverBuilder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        serverBuilder.addExtension(
                Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
        serverBuilder.addExtension(
                Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(GeneralName[]::new)));
        serverBuilder.addExtension(
                Extension.authorityKeyIdentifier,
                false,
                ext.createAuthorityKeyIdentifier(caCert.getSubjectPublicKeyInfo()));
        X509CertificateHolder serverCert =
                serverBuilder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caPrivate));
        writePrivate(keyOut, serverKeys.getPrivate(), GatewayKeys.purpose(keyOut), box);
        writePem(certOut, serverCert, caCert);
    }

    private static KeyPair keyPair() throws GeneralSecurityException {
        KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
        gen.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
        return gen.generateKeyPair();
    }

    private static boolean isAddress(String name) {
        return isLiteral(name);
    }

    static BigInteger serial() {
        return new BigInteger(128, new SecureRandom());
    }

    static void writePem(Path file, Object... objects) throws IOException {
        try (Writer w = Files.newBufferedWriter(file);
                JcaPEMWriter pem = new JcaPEMWriter(w)) {
            for (Object o : objects) {
                pem.writeObject(o);
            }
        }
    }

    /** Writes a private key as PKCS#8 PEM, readable only by the owner; sealed when {@code box} is not null. */
    static void writePrivate(
            Path file, java.security.PrivateKey key, String purpose, dev.underpass.protocol.SecretBox box)
            throws IOException {
        java.io.StringWriter text = new java.io.StringWriter();
        try (JcaPEMWriter pem = new JcaPEMWriter(text)) {
            pem.writeObject(new org.bouncycastle.openssl.jcajce.JcaPKCS8Generator(key, null));
        }
        dev.underpass.protocol.SealedFiles.writePrivate(
                file, text.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII), purpose, box);
    }

    static boolean isLiteral(String host) {
        return io.netty.util.NetUtil.isValidIpV4Address(host) || io.netty.util.NetUtil.isValidIpV6Address(host);
    }
}
