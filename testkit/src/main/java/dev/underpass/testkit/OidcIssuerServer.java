package dev.underpass.testkit;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * An OIDC issuer for tests: plain HTTP on 127.0.0.1, port 0, serving its discovery document
 * ({@code /.well-known/openid-configuration}) and its JWKS ({@code /jwks}) with RSA keys it
 * generates, and signing JWTs with them. It counts the requests of each path, so a test can
 * bound how often the gateway fetches keys, and it can rotate its key (the old one is no
 * longer served) or answer 503 as an issuer that is down.
 */
public final class OidcIssuerServer implements AutoCloseable {
    public static final String JWKS_PATH = "/jwks";
    public static final String DISCOVERY_PATH = "/.well-known/openid-configuration";

    private final HttpServer server;
    private final String issuer;
    private final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();
    private volatile RSAKey key;
    private volatile boolean down;
    private int generation;

    public OidcIssuerServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        issuer = "http://127.0.0.1:" + server.getAddress().getPort();
        server.createContext("/", this::handle);
        server.start();
        rotate();
    }

    /** The issuer URL, as JWTs name it in {@code iss}. */
    public String issuer() {
        return issuer;
    }

    public String jwksUri() {
        return issuer + JWKS_PATH;
    }

    /** The key served and signed with now; its kid is {@code key-N}. */
    public RSAKey key() {
        return key;
    }

    /** A new signing key with a new kid; the JWKS serves only it from now on. */
    public synchronized RSAKey rotate() {
        key = newKey("key-" + ++generation);
        return key;
    }

    /** A fresh RSA key of 2048 bits with {@code kid}, not served by any issuer. */
    public static RSAKey newKey(String kid) {
        try {
            return new RSAKeyGenerator(2048).keyID(kid).keyUse(KeyUse.SIGNATURE).generate();
        } catch (JOSEException e) {
            throw new IllegalStateException("RSA key generation", e);
        }
    }

    /** While {@code down}, every request is answered 503, as by an issuer that is unavailable. */
    public void down(boolean down) {
        this.down = down;
    }

    /** Requests seen for {@code path} (for instance {@link #JWKS_PATH}). */
    public int requests(String path) {
        AtomicInteger n = requests.get(path);
        return n == null ? 0 : n.get();
    }

    /**
     * Claims of a valid token from this issuer for {@code subject} and {@code audience}, issued
     * now and valid for 10 minutes; {@code more} may change or add claims.
     */
    public JWTClaimsSet claims(String subject, String audience, Consumer<JWTClaimsSet.Builder> more) {
        Instant now = Instant.now();
        JWTClaimsSet.Builder b = new JWTClaimsSet.Builder()
                .issuer(issuer)
                .subject(subject)
                .audience(List.of(audience))
                .issueTime(Date.from(now))
                .notBeforeTime(Date.from(now))
                .expirationTime(Date.from(now.plus(Duration.ofMinutes(10))))
                .jwtID(Long.toHexString(System.nanoTime()));
        more.accept(b);
        return b.build();
    }

    /** A valid token for {@code subject} and {@code audience}, signed (RS256) with the key served now. */
    public String token(String subject, String audience) {
        return sign(claims(subject, audience, b -> {}), key);
    }

    /** {@code claims} signed with RS256 by {@code signingKey}, whose kid the header names. */
    public static String sign(JWTClaimsSet claims, RSAKey signingKey) {
        try {
            SignedJWT jwt = new SignedJWT(
                    new JWSHeader.Builder(JWSAlgorithm.RS256)
                            .keyID(signingKey.getKeyID())
                            .type(JOSEObjectType.JWT)
                            .build(),
                    claims);
            jwt.sign(new RSASSASigner(signingKey));
            return jwt.serialize();
        } catch (JOSEException e) {
            throw new IllegalStateException("signing a test JWT", e);
        }
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            requests.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
            if (down) {
                send(exchange, 503, "{\"error\":\"down for the test\"}");
            } else if (path.equals(DISCOVERY_PATH)) {
                send(exchange, 200, "{\"issuer\":\"" + issuer + "\",\"jwks_uri\":\"" + jwksUri() + "\"}");
            } else if (path.equals(JWKS_PATH)) {
                send(exchange, 200, new JWKSet(key.toPublicJWK()).toString());
            } else {
                send(exchange, 404, "{\"error\":\"not found\"}");
            }
        }
    }

    private static void send(HttpExchange exchange, int status, String json) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("content-type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
