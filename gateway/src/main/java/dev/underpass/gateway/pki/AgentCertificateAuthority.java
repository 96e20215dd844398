package dev.underpass.gateway.pki;

import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.protocol.SealedFiles;
import dev.underpass.protocol.SecretBox;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.HexFormat;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's agent CA (EC P-256), apart from its server CA so that a client certificate can
 * never pass as a server certificate and the agent port trusts nothing else: created on first
 * start in the data directory's {@code tls/} ({@code agent-ca.pem}, {@code agent-ca-key.pem},
 * the key sealed when {@link SecretBox#KEY_ENV} is set). It signs the public keys of enrolling
 * agents into 90-day client certificates; nothing else from their requests is kept.
 */
public final class AgentCertificateAuthority {
    private static final Logger log = LoggerFactory.getLogger(AgentCertificateAuthority.class);
    static final String CA_FILE = "agent-ca.pem";
    static final String KEY_FILE = "agent-ca-key.pem";
    static final Duration CA_VALIDITY = Duration.ofDays(3650);
    static final Duration CLIENT_VALIDITY = Duration.ofDays(90);
    /** Clock skew between gateway and agent hosts that a new certificate tolerates. */
    private static final Duration BACKDATE = Duration.ofMinutes(5);
    /** The SAN URI scheme naming the agent: {@code underpass:agent:ACCOUNT/NAME}. */
    static final String SAN_PREFIX = "underpass:agent:";

    private final X509Certificate certificate;
    private final X509CertificateHolder holder;
    private final PrivateKey key;

    private AgentCertificateAuthority(X509Certificate certificate, PrivateKey key) throws IOException {
        this.certificate = certificate;
        this.key = key;
        try {
            this.holder = new X509CertificateHolder(certificate.getEncoded());
        } catch (GeneralSecurityException e) {
            throw new IOException(e);
        }
    }

    /** Loads, or creates on first start, the agent CA in {@code dir}. */
    static AgentCertificateAuthority ensure(Path dir, SecretBox box) throws IOException {
        Path caFile = dir.resolve(CA_FILE);
        Path keyFile = dir.resolve(KEY_FILE);
        if (!(Files.exists(caFile) && Files.exists(keyFile))) {
            Files.createDirectories(dir);
            generate(caFile, keyFile, box);
            log.info("generated agent CA {} for agents' client certificates", caFile);
        }
        try (InputStream in = Files.newInputStream(caFile)) {
            X509Certificate ca =
                    (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            byte[] pem = SealedFiles.read(keyFile, "tls/" + KEY_FILE, GatewayKeys.purpose(keyFile), box);
            return new AgentCertificateAuthority(ca, privateKey(pem, "tls/" + KEY_FILE));
        } catch (GeneralSecurityException e) {
            throw new IOException(caFile + ": not a PEM certificate (" + e.getMessage() + ")", e);
        }
    }

    public X509Certificate certificate() {
        return certificate;
    }

    /** Signs {@code agentKey} for the certificate the enrollment records. */
    public AgentEnrollments.Issuer issuer(PublicKey agentKey) {
        return (id, account, name) -> {
            try {
                return issue(agentKey, id, account, name);
            } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
                throw new IllegalStateException("cannot sign the agent certificate: " + e.getMessage(), e);
            }
        };
    }

    private AgentEnrollments.Issued issue(PublicKey agentKey, String id, String account, String name)
            throws GeneralSecurityException, OperatorCreationException, IOException {
        Instant notAfter = Instant.now().plus(CLIENT_VALIDITY);
        BigInteger serial = GatewayCertificates.serial();
        X509Certificate cert = signClient(agentKey, id, SAN_PREFIX + account + "/" + name, serial, notAfter);
        return new AgentEnrollments.Issued(serial.toString(16), fingerprint(cert), notAfter, chainPem(cert));
    }

    /**
     * A client certificate (TLS client authentication only) for {@code publicKey}, named
     * {@code commonName} and, as a SAN URI, {@code uri}, signed by this CA.
     */
    private X509Certificate signClient(
            PublicKey publicKey, String commonName, String uri, BigInteger serial, Instant notAfter)
            throws GeneralSecurityException, OperatorCreationException, IOException {
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.CN, commonName)
                .build();
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        var b = new JcaX509v3CertificateBuilder(
                holder.getSubject(),
                serial,
                Date.from(Instant.now().minus(BACKDATE)),
                Date.from(notAfter),
                subject,
                publicKey);
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
        b.addExtension(
                Extension.subjectAlternativeName,
                false,
                new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, uri)));
        b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(certificate));
        b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(publicKey));
        X509CertificateHolder signed = b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key));
        return new JcaX509CertificateConverter().getCertificate(signed);
    }

    /** {@code cert} and this CA's certificate, PEM. */
    private String chainPem(X509Certificate cert) throws IOException {
        StringWriter chain = new StringWriter();
        try (JcaPEMWriter pem = new JcaPEMWriter(chain)) {
            pem.writeObject(cert);
            pem.writeObject(certificate);
        }
        return chain.toString();
    }

    /** The SAN URI scheme naming a gateway node: {@code underpass:node:ID}. Agents' certificates never carry it. */
    static final String NODE_SAN_PREFIX = "underpass:node:";
    /** A node issues itself a new certificate at every start; this covers any uptime in practice. */
    static final Duration NODE_VALIDITY = Duration.ofDays(365);

    /** A node's client certificate for its peer links: PEM chain (with this CA) and key, in memory only. */
    public record NodeCertificate(byte[] chainPem, byte[] keyPem) {}

    /**
     * A client certificate for gateway node {@code nodeId}, with a fresh key, for the links to
     * its peers (docs/cluster.md). Only a holder of this CA's key can make one: the nodes that
     * share the gateway's {@code tls/}.
     */
    public NodeCertificate nodeCertificate(String nodeId) {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            KeyPair keys = gen.generateKeyPair();
            X509Certificate cert = signClient(
                    keys.getPublic(),
                    "underpass node " + nodeId,
                    NODE_SAN_PREFIX + nodeId,
                    GatewayCertificates.serial(),
                    Instant.now().plus(NODE_VALIDITY));
            StringWriter privateKey = new StringWriter();
            try (JcaPEMWriter pem = new JcaPEMWriter(privateKey)) {
                pem.writeObject(new org.bouncycastle.openssl.jcajce.JcaPKCS8Generator(keys.getPrivate(), null));
            }
            return new NodeCertificate(
                    chainPem(cert).getBytes(StandardCharsets.US_ASCII),
                    privateKey.toString().getBytes(StandardCharsets.US_ASCII));
        } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
            throw new IllegalStateException("cannot issue the node certificate: " + e.getMessage(), e);
        }
    }

    /** The node id of a node certificate this CA signed, or null for any other certificate. */
    public String nodeOf(X509Certificate presented) {
        try {
            presented.verify(certificate.getPublicKey());
            var names = presented.getSubjectAlternativeNames();
            if (names == null) {
                return null;
            }
            for (var n : names) {
                if (n.size() == 2
                        && Integer.valueOf(GeneralName.uniformResourceIdentifier)
                                .equals(n.get(0))
                        && n.get(1) instanceof String uri
                        && uri.startsWith(NODE_SAN_PREFIX)) {
                    return uri.substring(NODE_SAN_PREFIX.length());
                }
            }
            return null;
        } catch (GeneralSecurityException e) {
            return null;
        }
    }

    /** SHA-256 of the DER certificate, lowercase hex: how the store knows an agent's certificate. */
    public static String fingerprint(X509Certificate c) throws GeneralSecurityException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
    }

    /**
     * The public key of a PEM PKCS#10 request whose signature verifies (the agent holds the key).
     * Its subject and extensions are ignored: the gateway decides what the certificate says.
     *
     * @throws IllegalArgumentException saying what is wrong with the request
     */
    public static PublicKey verifiedKey(byte[] pem) {
        Object parsed;
        try (PEMParser parser = new PEMParser(new StringReader(new String(pem, StandardCharsets.US_ASCII)))) {
            parsed = parser.readObject();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("certificate request: not PEM (expected: a PKCS#10 request, "
                    + "-----BEGIN CERTIFICATE REQUEST-----)");
        }
        if (!(parsed instanceof PKCS10CertificationRequest csr)) {
            throw new IllegalArgumentException("certificate request: "
                    + (parsed == null
                            ? "no PEM object"
                            : "a " + parsed.getClass().getSimpleName()) + " (expected: a PKCS#10 request, "
                    + "-----BEGIN CERTIFICATE REQUEST-----)");
        }
        PublicKey key;
        try {
            key = new JcaPKCS10CertificationRequest(csr).getPublicKey();
            if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(csr.getSubjectPublicKeyInfo()))) {
                throw new IllegalArgumentException(
                        "certificate request: its signature does not verify with its own key "
                                + "(expected: signed by the key it carries)");
            }
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalArgumentException(
                    "certificate request: cannot verify its signature (" + e.getMessage() + ")");
        }
        if (key instanceof ECPublicKey ec
                && ec.getParams().getCurve().getField().getFieldSize() >= 256) {
            return key;
        }
        if (key instanceof RSAPublicKey rsa && rsa.getModulus().bitLength() >= 2048) {
            return key;
        }
        throw new IllegalArgumentException("certificate request: a " + key.getAlgorithm()
                + " key that is too weak or unsupported (expected: EC P-256 or larger, or RSA of 2048 bits or more)");
    }

    private static void generate(Path caFile, Path keyFile, SecretBox box) throws IOException {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            KeyPair keys = gen.generateKeyPair();
            Instant now = Instant.now();
            X500Name name =
                    new X500Name("CN=Underpass agent CA " + HexFormat.of().toHexDigits(new SecureRandom().nextInt()));
            var b = new JcaX509v3CertificateBuilder(
                    name,
                    GatewayCertificates.serial(),
                    Date.from(now.minus(Duration.ofHours(1))),
                    Date.from(now.plus(CA_VALIDITY)),
                    name,
                    keys.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            b.addExtension(
                    Extension.subjectKeyIdentifier,
                    false,
                    new JcaX509ExtensionUtils().createSubjectKeyIdentifier(keys.getPublic()));
            X509CertificateHolder ca = b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate()));
            // The key first: a CA certificate without its key would be kept and never sign.
            GatewayCertificates.writePrivate(keyFile, keys.getPrivate(), GatewayKeys.purpose(keyFile), box);
            GatewayCertificates.writePem(caFile, ca);
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("cannot generate the agent CA: " + e.getMessage(), e);
        }
    }

    /** A PKCS#8 (or traditional) PEM private key. */
    static PrivateKey privateKey(byte[] pem, String shown) throws IOException {
        try (PEMParser parser = new PEMParser(new StringReader(new String(pem, StandardCharsets.US_ASCII)))) {
            Object o = parser.readObject();
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            if (o instanceof PrivateKeyInfo info) {
                return converter.getPrivateKey(info);
            }
            if (o instanceof org.bouncycastle.openssl.PEMKeyPair pair) {
                return converter.getKeyPair(pair).getPrivate();
            }
            throw new IOException(shown + ": no PEM private key");
        }
    }
}
