package dev.underpass.protocol;

import io.netty.handler.codec.http2.Http2SecurityUtil;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS settings of the agent link: TLS 1.3 only, ALPN {@code h2}, BoringSSL where it loads (it
 * is several times faster than the JDK's engine for bulk data) and the JDK's engine elsewhere.
 */
public final class Tls {
    public static final String TLS_1_3 = "TLSv1.3";

    private Tls() {}

    public static SslProvider provider() {
        return OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
    }

    private static ApplicationProtocolConfig alpnH2() {
        return new ApplicationProtocolConfig(
                ApplicationProtocolConfig.Protocol.ALPN,
                ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                ApplicationProtocolNames.HTTP_2);
    }

    /** The gateway's side: its certificate chain and key, PEM files. */
    public static SslContext server(File certChain, File key) throws SSLException {
        return SslContextBuilder.forServer(certChain, key)
                .sslProvider(provider())
                .protocols(TLS_1_3)
                .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .applicationProtocolConfig(alpnH2())
                .build();
    }

    /**
     * As {@link #server(File, File)}, from PEM bytes (a key opened from its sealed file, in
     * memory only). With {@code agentCa}, agents may present a client certificate signed by one
     * of them: asked for but optional, so that agents with tokens keep working; a certificate of
     * any other CA fails the handshake.
     */
    public static SslContext server(byte[] certChainPem, byte[] keyPem, X509Certificate... agentCa)
            throws SSLException {
        SslContextBuilder b = SslContextBuilder.forServer(
                        new ByteArrayInputStream(certChainPem), new ByteArrayInputStream(keyPem))
                .sslProvider(provider())
                .protocols(TLS_1_3)
                .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .applicationProtocolConfig(alpnH2());
        if (agentCa.length > 0) {
            b.trustManager(agentCa).clientAuth(ClientAuth.OPTIONAL);
        }
        return b.build();
    }

    /** As {@link #httpsServer(File, File)}, from PEM bytes. */
    public static SslContext httpsServer(byte[] certChainPem, byte[] keyPem) throws SSLException {
        return https(
                SslContextBuilder.forServer(new ByteArrayInputStream(certChainPem), new ByteArrayInputStream(keyPem)));
    }

    /** As {@link #client(TrustManagerFactory, boolean)}, presenting a client certificate (PEM chain and key). */
    public static SslContext client(
            TrustManagerFactory trust, boolean verifyHostname, byte[] clientChainPem, byte[] clientKeyPem)
            throws SSLException {
        return SslContextBuilder.forClient()
                .sslProvider(provider())
                .protocols(TLS_1_3)
                .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .trustManager(trust)
                .keyManager(new ByteArrayInputStream(clientChainPem), new ByteArrayInputStream(clientKeyPem))
                .endpointIdentificationAlgorithm(verifyHostname ? "HTTPS" : null)
                .applicationProtocolConfig(alpnH2())
                .build();
    }

    /** The gateway's HTTPS API: TLS 1.3, ALPN {@code http/1.1}. */
    public static SslContext httpsServer(File certChain, File key) throws SSLException {
        return https(SslContextBuilder.forServer(certChain, key));
    }

    private static SslContext https(SslContextBuilder server) throws SSLException {
        return server.sslProvider(provider())
                .protocols(TLS_1_3)
                .applicationProtocolConfig(new ApplicationProtocolConfig(
                        ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_1_1))
                .build();
    }

    /**
     * The agent's side, trusting what {@code trust} trusts; {@code verifyHostname} checks the
     * gateway's name against its certificate (off only where a pinned fingerprint decides).
     */
    public static SslContext client(TrustManagerFactory trust, boolean verifyHostname) throws SSLException {
        return SslContextBuilder.forClient()
                .sslProvider(provider())
                .protocols(TLS_1_3)
                .ciphers(Http2SecurityUtil.CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .trustManager(trust)
                .endpointIdentificationAlgorithm(verifyHostname ? "HTTPS" : null)
                .applicationProtocolConfig(alpnH2())
                .build();
    }
}
