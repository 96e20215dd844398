package dev.underpass.gateway.auth;

import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.gateway.pki.AgentCertificateAuthority;
import io.netty.channel.Channel;
import io.netty.handler.ssl.SslHandler;
import java.net.SocketAddress;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Objects;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * Agents with client certificates on the agent port: who a link's verified certificate belongs
 * to, and enrollment (a one-time token and a certificate request in, a signed certificate out).
 * Both wait on the store, so callers run them off the event loop.
 */
public final class AgentCertificates {
    private final AgentEnrollments enrollments;
    private final AgentCertificateAuthority ca;

    public AgentCertificates(AgentEnrollments enrollments, AgentCertificateAuthority ca) {
        this.enrollments = Objects.requireNonNull(enrollments, "enrollments");
        this.ca = Objects.requireNonNull(ca, "ca");
    }

    /**
     * The client certificate the link's TLS handshake verified against the agent CA, or null when
     * the agent presented none (it then authenticates with a token or an identity).
     */
    public static X509Certificate peer(Channel link) {
        SslHandler tls = link.pipeline().get(SslHandler.class);
        if (tls == null) {
            return null;
        }
        try {
            Certificate[] chain = tls.engine().getSession().getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof X509Certificate x ? x : null;
        } catch (SSLPeerUnverifiedException none) {
            return null;
        }
    }

    /** Who presents {@code certificate}, or why it is refused (unknown, revoked, expired). */
    public AgentEnrollments.CertificateCheck check(X509Certificate certificate) {
        try {
            return enrollments.verifyCertificate(AgentCertificateAuthority.fingerprint(certificate));
        } catch (GeneralSecurityException e) {
            return new AgentEnrollments.CertificateCheck(null, "cannot read the client certificate: " + e.getMessage());
        }
    }

    /**
     * Signs the key of {@code csrPem} for the enrollment of {@code token}. The failure limits and the
     * token are checked first: parsing the request and verifying its signature cost CPU on the shared
     * credential-check threads, which an anonymous client must not get for free or without limit.
     *
     * @throws Refused TOO_MANY_ATTEMPTS when {@code from} or the token failed too often (nothing else is
     *         checked), 401 for a token that is unknown, used or expired, 400 for a bad request (the
     *         token stays usable)
     */
    public AgentEnrollments.Issued enroll(String token, SocketAddress from, byte[] csrPem) {
        enrollments.admit(token, from);
        PublicKey key;
        try {
            key = AgentCertificateAuthority.verifiedKey(csrPem);
        } catch (IllegalArgumentException e) {
            throw Refused.invalid(e.getMessage());
        }
        return enrollments.enroll(token, from, ca.issuer(key));
    }
}
