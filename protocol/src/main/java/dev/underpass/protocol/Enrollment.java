package dev.underpass.protocol;

import io.netty.util.AsciiString;

/**
 * The enrollment exchange on the agent port (docs/adr/0015-agent-enrollment-and-encryption-at-rest.md):
 * on a link without a session, the agent sends {@code POST} {@link #PATH} with
 * {@code authorization: Bearer upe_...} and its PKCS#10 certificate request (PEM) as the body;
 * the gateway answers 201 with the signed client certificate and the agent CA (PEM chain), or
 * a problem document (400 bad request, 401 token refused, 429 too many failures). The link then
 * closes: an enrolled agent reconnects with its certificate.
 */
public final class Enrollment {
    public static final String PATH = "/underpass/v1/enroll";
    public static final AsciiString CONTENT_TYPE_CSR = AsciiString.cached("application/pkcs10");
    public static final AsciiString CONTENT_TYPE_CHAIN = AsciiString.cached("application/pem-certificate-chain");
    /** Largest certificate request the gateway reads; a P-256 request in PEM is under 1 KiB. */
    public static final int MAX_REQUEST_BYTES = 16 * 1024;

    private Enrollment() {}
}
