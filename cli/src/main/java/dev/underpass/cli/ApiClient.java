package dev.underpass.cli;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.underpass.protocol.Protocol;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

/**
 * A client of the gateway's REST API (HTTPS, TLS 1.3, HTTP/1.1, JSON): sends each request with
 * the API key as a bearer token, or with an OIDC login the JWT read afresh from its file and
 * {@code underpass-account} naming the account, and turns RFC 9457 problem answers into
 * {@link ApiError}. Bodies are Jackson trees, since the CLI knows the API only through its JSON.
 * The key or token is never put in an exception or a log line.
 */
final class ApiClient implements AutoCloseable {
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);
    /** Items asked for per page when following {@code nextPageToken} (the API allows up to 500). */
    static final int PAGE_SIZE = 100;

    /** Lenient on input: a newer gateway may add fields. */
    static final ObjectMapper JSON = new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** Largest OIDC token file read (the gateway takes JWTs of up to 16 KiB). */
    static final long MAX_TOKEN_FILE_BYTES = 64 * 1024;

    /**
     * Wraps the HTTP client of each client made: the identity, except in the CLI's tests, whose wrapper checks
     * every exchange against the API's OpenAPI document.
     */
    static volatile UnaryOperator<HttpClient> httpClients = UnaryOperator.identity();

    private final URI gateway;
    private final String key;
    /** With an OIDC login: the file holding the user's JWT, and the account to log in to; else null. */
    private final Path tokenFile;

    private final String account;
    private final HttpClient http;

    private ApiClient(URI gateway, String key, Path tokenFile, String account, HttpClient http) {
        this.gateway = gateway;
        this.key = key;
        this.tokenFile = tokenFile;
        this.account = account;
        this.http = http;
    }

    /** A client for the gateway, credential and CA file of {@code config}; fails when it lacks a gateway or credential. */
    static ApiClient connect(CliConfig config) {
        CliConfig c = config.requireLogin();
        SSLParameters tls = new SSLParameters();
        tls.setProtocols(new String[] {"TLSv1.3"});
        HttpClient http = httpClients.apply(HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(CONNECT_TIMEOUT)
                .sslContext(sslContext(c.caFile() == null ? null : Path.of(c.caFile())))
                .sslParameters(tls)
                .build());
        return c.oidc()
                ? new ApiClient(CliConfig.gatewayUri(c.gateway()), null, Path.of(c.oidcTokenFile()), c.account(), http)
                : new ApiClient(CliConfig.gatewayUri(c.gateway()), c.key(), null, null, http);
    }

    /**
     * The JWT in {@code file}, stripped; refused when unreadable, empty, more than one word or an
     * API key. Never echoes the file's content.
     */
    static String readOidcToken(Path file) {
        String text;
        try {
            if (Files.size(file) > MAX_TOKEN_FILE_BYTES) {
                throw new IllegalArgumentException("OIDC token file " + file + ": larger than " + MAX_TOKEN_FILE_BYTES
                        + " bytes (expected: a file holding one JWT)");
            }
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "OIDC token file " + file + ": cannot read it: "
                            + e.getClass().getSimpleName()
                            + " (expected: a readable file holding the user's JWT, kept current by the identity provider; "
                            + "or log in again)",
                    e);
        }
        String token = text.strip();
        if (token.isEmpty() || token.chars().anyMatch(Character::isWhitespace)) {
            throw new IllegalArgumentException(
                    "OIDC token file " + file + ": " + (token.isEmpty() ? "empty" : "not one token")
                            + " (expected: the user's JWT, eyJ..., alone in the file)");
        }
        if (token.startsWith(LoginCommand.KEY_PREFIX)) {
            throw new IllegalArgumentException("OIDC token file " + file + ": holds an API key, not a JWT (expected: "
                    + "'underpass login --key-file FILE' for an API key)");
        }
        return token;
    }

    /** A client for what {@link CliConfig#current()} names. */
    static ApiClient current() {
        return connect(CliConfig.current());
    }

    /** The system trust store, or only the CA certificates of a PEM file. */
    static SSLContext sslContext(Path caFile) {
        try {
            if (caFile == null) {
                return SSLContext.getDefault();
            }
            Collection<? extends Certificate> cas;
            try (InputStream in = Files.newInputStream(caFile)) {
                cas = CertificateFactory.getInstance("X.509").generateCertificates(in);
            }
            if (cas.isEmpty()) {
                throw new IllegalArgumentException(
                        "CA file " + caFile + ": no certificate in it (expected: PEM certificates)");
            }
            KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
            trust.load(null, null);
            int i = 0;
            for (Certificate ca : cas) {
                trust.setCertificateEntry("ca-" + i++, ca);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            SSLContext ssl = SSLContext.getInstance("TLS");
            ssl.init(null, tmf.getTrustManagers(), null);
            return ssl;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException(
                    "CA file " + caFile + ": cannot read it: " + e.getMessage()
                            + " (expected: a readable PEM file of CA certificates)",
                    e);
        }
    }

    JsonNode get(String path) {
        return send("GET", path, null);
    }

    /** Posts {@code body}, or nothing when it is null. */
    JsonNode post(String path, JsonNode body) {
        return send("POST", path, body);
    }

    JsonNode patch(String path, JsonNode body) {
        return send("PATCH", path, requireNonNull(body, "body"));
    }

    /** Deletes; the answer is the deleted object's last view, or null for 204. */
    JsonNode delete(String path) {
        return send("DELETE", path, null);
    }

    /**
     * Every item of a paginated list, following {@code nextPageToken}, at most {@code max}
     * (null: all), as {@code {items, nextPageToken}} where the token is present only when
     * {@code max} stopped the listing early.
     */
    ObjectNode list(String path, Map<String, String> query, Integer max) {
        if (max != null && max < 1) {
            throw new IllegalArgumentException("--limit: " + max + " (expected: 1 or more)");
        }
        ArrayNode items = JSON.createArrayNode();
        String token = null;
        do {
            int size = max == null ? PAGE_SIZE : Math.min(PAGE_SIZE, max - items.size());
            Map<String, String> q = new LinkedHashMap<>(query);
            q.put("limit", String.valueOf(size));
            if (token != null) {
                q.put("pageToken", token);
            }
            JsonNode page = get(path + "?"
                    + q.entrySet().stream()
                            .filter(e -> e.getValue() != null)
                            .map(e -> e.getKey() + "=" + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8))
                            .collect(Collectors.joining("&")));
            page.path("items").forEach(items::add);
            token = page.path("nextPageToken").asText(null);
        } while (token != null && (max == null || items.size() < max));
        ObjectNode result = JSON.createObjectNode().set("items", items);
        return token == null ? result : result.put("nextPageToken", token);
    }

    /** One path segment, percent-encoded (names are plain, but an id typed by a person may not be). */
    static String segment(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private JsonNode send(String method, String path, JsonNode body) {
        URI uri = gateway.resolve(path);
        HttpRequest.Builder request = HttpRequest.newBuilder(uri)
                .timeout(REQUEST_TIMEOUT)
                .header("Accept", "application/json, application/problem+json")
                .header("User-Agent", "underpass-cli");
        if (tokenFile == null) {
            request.header("Authorization", "Bearer " + key);
        } else {
            // Read for every request: the identity provider replaces short-lived tokens in place.
            request.header("Authorization", "Bearer " + readOidcToken(tokenFile));
            request.header(Protocol.HEADER_ACCOUNT.toString(), account);
        }
        try {
            request.method(
                    method,
                    body == null
                            ? HttpRequest.BodyPublishers.noBody()
                            : HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
            if (body != null) {
                request.header("Content-Type", "application/json");
            }
            HttpResponse<byte[]> response = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
            return answer(method, uri, response);
        } catch (SSLHandshakeException e) {
            throw new ApiError(
                    0,
                    "https, " + gateway + ", TLS handshake failed: " + e.getMessage()
                            + " (expected: a gateway certificate trusted by the system or by --ca-file at login, or UNDERPASS_CA_FILE)");
        } catch (IOException e) {
            throw new ApiError(
                    0,
                    "https, " + method + " " + uri.getPath() + " at " + gateway + ", no answer: "
                            + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiError(0, "interrupted while waiting for " + gateway);
        }
    }

    private static JsonNode answer(String method, URI uri, HttpResponse<byte[]> response) {
        int status = response.statusCode();
        byte[] bytes = response.body();
        String type = response.headers().firstValue("Content-Type").orElse("");
        JsonNode json = null;
        if (bytes.length > 0 && type.contains("json")) {
            try {
                json = JSON.readTree(bytes);
            } catch (IOException e) {
                throw new ApiError(
                        status,
                        method + " " + uri.getPath() + ": the gateway's answer (HTTP " + status
                                + ") is not valid JSON: "
                                + (e instanceof JacksonException j ? j.getOriginalMessage() : e.getMessage()));
            }
        }
        if (status >= 200 && status < 300) {
            return json;
        }
        if (json == null || !json.isObject()) {
            throw new ApiError(
                    status,
                    method + " " + uri.getPath() + ": HTTP " + status
                            + " without a problem description (expected: application/problem+json; is this the gateway's API port?)");
        }
        List<String> errors = new ArrayList<>();
        json.path("errors").forEach(e -> errors.add(e.asText()));
        throw ApiError.problem(
                status, json.path("title").asText(null), json.path("detail").asText(null), errors);
    }

    @Override
    public void close() {
        http.close();
    }
}
