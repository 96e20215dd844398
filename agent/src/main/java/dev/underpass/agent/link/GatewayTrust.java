package dev.underpass.agent.link;

import dev.underpass.agent.config.AgentConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import javax.net.ssl.ManagerFactoryParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * How the agent verifies the gateway: the system trust store (default), a CA file, or a pinned
 * SHA-256 fingerprint of one certificate in the gateway's chain.
 */
final class GatewayTrust {
    private GatewayTrust() {}

    /** True when the name in the certificate must match the gateway's host name. */
    static boolean verifiesHostname(AgentConfig config) {
        return config.pin() == null; // a pin names the exact certificate; the host name adds nothing
    }

    static TrustManagerFactory of(AgentConfig config) throws IOException {
        try {
            if (config.pin() != null) {
                return new OneManager(new PinnedTrustManager(config.pinHex()));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            if (config.caFile() == null) {
                tmf.init((KeyStore) null);
                return explaining(tmf, "the system trust store");
            }
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            try (InputStream in = Files.newInputStream(Path.of(config.caFile()))) {
                int i = 0;
                for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    ks.setCertificateEntry("ca-" + i++, c);
                }
                if (i == 0) {
                    throw new IOException("caFile: " + config.caFile() + " (expected: at least one PEM certificate)");
                }
            }
            tmf.init(ks);
            return explaining(tmf, "--ca-file " + config.caFile());
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up gateway trust: " + e.getMessage(), e);
        }
    }

    static String fingerprint(X509Certificate c) throws GeneralSecurityException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
    }

    /**
     * The JDK's trust manager with refusals that say what was checked and what to do (issue 12:
     * an agent on another host looped on "No subject alternative names matching IP address
     * 198.18.0.1 found" and nothing pointed at serverNames or --pin).
     */
    private static TrustManagerFactory explaining(TrustManagerFactory jdk, String trusted) {
        for (TrustManager tm : jdk.getTrustManagers()) {
            if (tm instanceof X509ExtendedTrustManager x) {
                return new OneManager(new ExplainingTrustManager(x, trusted));
            }
        }
        throw new IllegalStateException("no X509 trust manager available");
    }

    /** A factory of exactly one trust manager of ours. */
    private static final class OneManager extends io.netty.handler.ssl.util.SimpleTrustManagerFactory {
        private final TrustManager[] managers;

        OneManager(TrustManager manager) {
            managers = new TrustManager[] {manager};
        }

        @Override
        protected void engineInit(KeyStore keyStore) {}

        @Override
        protected void engineInit(ManagerFactoryParameters params) {}

        @Override
        protected TrustManager[] engineGetTrustManagers() {
            return managers.clone();
        }
    }

    private static final class ExplainingTrustManager extends X509ExtendedTrustManager {
        private final X509ExtendedTrustManager delegate;
        private final String trusted;

        ExplainingTrustManager(X509ExtendedTrustManager delegate, String trusted) {
            this.delegate = delegate;
            this.trusted = trusted;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, javax.net.ssl.SSLEngine engine)
                throws CertificateException {
            try {
                delegate.checkServerTrusted(chain, authType, engine);
            } catch (CertificateException e) {
                // Not chained: the log shows a failure's innermost cause, which is to be this explanation.
                throw new CertificateException(explain(e, chain, engine == null ? "?" : engine.getPeerHost(), trusted));
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, java.net.Socket socket)
                throws CertificateException {
            try {
                delegate.checkServerTrusted(chain, authType, socket);
            } catch (CertificateException e) {
                throw new CertificateException(explain(e, chain, "?", trusted));
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            try {
                delegate.checkServerTrusted(chain, authType);
            } catch (CertificateException e) {
                throw new CertificateException(explain(e, chain, "?", trusted));
            }
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, java.net.Socket socket)
                throws CertificateException {
            throw new CertificateException("the agent does not accept client connections");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, javax.net.ssl.SSLEngine engine)
                throws CertificateException {
            throw new CertificateException("the agent does not accept client connections");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("the agent does not accept client connections");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return delegate.getAcceptedIssuers();
        }
    }

    /** Explains a refusal of {@code chain} for {@code host}: what the certificate covers or who issued it, and what to do. */
    static String explain(CertificateException e, X509Certificate[] chain, String host, String trusted) {
        String jdk = String.valueOf(e.getMessage());
        if (chain == null || chain.length == 0) {
            return jdk;
        }
        if (jdk.startsWith("No subject alternative") || jdk.startsWith("No name matching")) {
            return "the gateway's certificate does not cover " + host + " (it covers " + names(chain[0]) + "): add "
                    + host
                    + " to serverNames in the gateway's configuration (it then issues its generated certificate again at its"
                    + " next start), or give --gateway one of the names it covers, or trust the gateway with --pin sha256:..."
                    + " (logged by the gateway at start; a pin skips the name check) [" + jdk + "]";
        }
        if (jdk.contains("PKIX path") || jdk.contains("certification path")) {
            return "the gateway's certificate (issued by "
                    + chain[chain.length - 1].getIssuerX500Principal().getName()
                    + ") is not signed by a CA in " + trusted
                    + ": use the gateway's own CA file (underpass-data/tls/ca.pem on"
                    + " the gateway), or --pin sha256:... as the gateway logs it at start [" + jdk + "]";
        }
        return jdk;
    }

    private static String names(X509Certificate c) {
        try {
            var sans = c.getSubjectAlternativeNames();
            if (sans == null || sans.isEmpty()) {
                return "no subject alternative name";
            }
            return String.join(
                    ", ", sans.stream().map(san -> String.valueOf(san.get(1))).toList());
        } catch (CertificateException unreadable) {
            return "names that cannot be read";
        }
    }

    /**
     * Trusts a chain only if one of its certificates has the pinned fingerprint AND the chain
     * validates (signatures, validity, CA constraints) up to that certificate as the only trust
     * anchor. Matching the fingerprint alone is not enough: anyone can present the real, public CA
     * certificate next to a leaf of their own.
     */
    private record PinnedTrustManager(String pinHex) implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("the agent does not accept client connections");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            if (chain == null || chain.length == 0) {
                throw new CertificateException("the gateway sent no certificate");
            }
            try {
                X509Certificate pinned = null;
                for (X509Certificate c : chain) {
                    if (fingerprint(c).equals(pinHex)) {
                        pinned = c;
                        break;
                    }
                }
                if (pinned == null) {
                    throw new CertificateException("gateway certificate fingerprint sha256:" + fingerprint(chain[0])
                            + " matches no certificate of the chain against the pinned sha256:" + pinHex);
                }
                KeyStore anchor = KeyStore.getInstance(KeyStore.getDefaultType());
                anchor.load(null, null);
                anchor.setCertificateEntry("pinned", pinned);
                TrustManagerFactory pkix = TrustManagerFactory.getInstance("PKIX");
                pkix.init(anchor);
                for (TrustManager tm : pkix.getTrustManagers()) {
                    if (tm instanceof X509TrustManager x509) {
                        x509.checkServerTrusted(chain, authType);
                        return;
                    }
                }
                throw new CertificateException("no PKIX trust manager available");
            } catch (GeneralSecurityException | IOException e) {
                if (e instanceof CertificateException ce) {
                    throw ce;
                }
                throw new CertificateException("cannot verify the gateway certificate: " + e.getMessage(), e);
            }
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
