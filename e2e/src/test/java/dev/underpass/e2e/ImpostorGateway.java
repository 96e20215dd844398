package dev.underpass.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * A TLS 1.3 server that presents a chain of its own choosing, to play a man in the middle: for
 * instance its own leaf followed by the real gateway's CA certificate. Counts completed handshakes.
 */
final class ImpostorGateway implements AutoCloseable {
    private final SSLServerSocket server;
    private final AtomicInteger handshakes = new AtomicInteger();
    private final Thread acceptor;

    ImpostorGateway(Path keyPem, List<Path> chainPems) throws IOException, GeneralSecurityException {
        List<X509Certificate> chain = new ArrayList<>();
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        for (Path pem : chainPems) {
            try (InputStream in = Files.newInputStream(pem)) {
                chain.add((X509Certificate)
                        cf.generateCertificates(in).iterator().next()); // first certificate of each file
            }
        }
        String base64 =
                Files.readString(keyPem).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PrivateKey key = KeyFactory.getInstance("EC")
                .generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(base64)));
        // A key manager that serves the chain as given: key stores refuse an inconsistent chain.
        X509Certificate[] certs = chain.toArray(X509Certificate[]::new);
        X509ExtendedKeyManager km = new X509ExtendedKeyManager() {
            @Override
            public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
                return "impostor";
            }

            @Override
            public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
                return "impostor";
            }

            @Override
            public X509Certificate[] getCertificateChain(String alias) {
                return certs.clone();
            }

            @Override
            public PrivateKey getPrivateKey(String alias) {
                return key;
            }

            @Override
            public String[] getServerAliases(String keyType, Principal[] issuers) {
                return new String[] {"impostor"};
            }

            @Override
            public String[] getClientAliases(String keyType, Principal[] issuers) {
                return new String[0];
            }

            @Override
            public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
                return null;
            }
        };
        SSLContext ctx = SSLContext.getInstance("TLSv1.3");
        ctx.init(new KeyManager[] {km}, null, null);
        server = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        acceptor = Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                try (SSLSocket s = (SSLSocket) server.accept()) {
                    s.setSoTimeout(10_000);
                    s.startHandshake();
                    handshakes.incrementAndGet();
                } catch (IOException e) {
                    // the agent refused the chain, or the server is closing
                }
            }
        });
    }

    int port() {
        return server.getLocalPort();
    }

    int completedHandshakes() {
        return handshakes.get();
    }

    @Override
    public void close() throws IOException, InterruptedException {
        server.close();
        acceptor.join(10_000);
    }
}
