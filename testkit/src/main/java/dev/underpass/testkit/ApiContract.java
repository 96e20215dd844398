package dev.underpass.testkit;

import com.atlassian.oai.validator.OpenApiInteractionValidator;
import com.atlassian.oai.validator.model.ApiOperation;
import com.atlassian.oai.validator.model.Request;
import com.atlassian.oai.validator.model.SimpleRequest;
import com.atlassian.oai.validator.model.SimpleResponse;
import com.atlassian.oai.validator.report.ValidationReport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.Authenticator;
import java.net.CookieHandler;
import java.net.ProxySelector;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/**
 * The API's contract, checked: every request that the API tests send and every response they get is
 * validated against the OpenAPI document that the API serves ({@link #DOCUMENT}), with
 * Atlassian's OpenAPI request validator (paths, methods, parameters, headers, content types, and bodies
 * against the document's JSON Schemas), so the document cannot drift from the code.
 *
 * <p>Every response must match its operation's documented response for its status: headers, content
 * type and body. A request may break the contract only where the test means it to (a missing key, a
 * malformed body, an unknown path): then the API must have refused it with a 4xx, itself documented
 * (unknown paths and methods: 404 or 405). A request outside the contract that the API accepted, or a
 * response outside it, fails the test with every violation listed.
 *
 * <p>Every test client of the API checks its exchanges here: the control plane's {@code ApiFixture} calls
 * {@link #check} itself; the gateway's, the CLI's and the end-to-end tests' HTTP clients are wrapped in
 * {@link #checking}. The document is read from the classpath, so the control plane's jar must be on it.
 */
public final class ApiContract {
    /**
     * Where the control plane's jar holds the document that its API serves at {@code /v1/openapi.yaml} (its
     * {@code Routes.OPENAPI_RESOURCE}, which the control plane's ApiContractTest holds equal to this).
     */
    public static final String DOCUMENT = "/dev/underpass/controlplane/api/openapi.yaml";

    private static final OpenApiInteractionValidator VALIDATOR =
            OpenApiInteractionValidator.createForInlineApiSpecification(document())
                    .withBasePathOverride("/")
                    .withCustomRequestValidation(ApiContract::globalSecurity)
                    .build();

    private ApiContract() {}

    private static String document() {
        try (InputStream in = ApiContract.class.getResourceAsStream(DOCUMENT)) {
            if (in == null) {
                throw new IllegalStateException(
                        DOCUMENT + " is missing (expected: the control plane's jar on the test classpath)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Checks one exchange: {@code target} is the request's path and query, {@code requestHeaders} what the
     * client sent, {@code body} the request's body or null. Throws an {@link AssertionError}
     * naming every violation.
     */
    public static void check(
            String method,
            String target,
            HttpHeaders requestHeaders,
            String body,
            int status,
            HttpHeaders responseHeaders,
            String responseBody) {
        URI uri = URI.create(target);
        String path = uri.getRawPath();
        SimpleRequest.Builder request = new SimpleRequest.Builder(method.toUpperCase(Locale.ROOT), path);
        requestHeaders.map().forEach(request::withHeader);
        if (uri.getRawQuery() != null) {
            for (String pair : uri.getRawQuery().split("&")) {
                int eq = pair.indexOf('=');
                request.withQueryParam(
                        decode(eq < 0 ? pair : pair.substring(0, eq)), decode(eq < 0 ? "" : pair.substring(eq + 1)));
            }
        }
        if (body != null) {
            request.withBody(body);
        }
        SimpleResponse.Builder response = SimpleResponse.Builder.status(status);
        responseHeaders.map().forEach(response::withHeader);
        if (!responseBody.isEmpty()) {
            response.withBody(responseBody);
        }
        ValidationReport requestReport = VALIDATOR.validateRequest(request.build());
        if (body == null) {
            // Without a body there is no content type to check (the validator asks for one even where the
            // body is optional); a required body that is missing is reported as validation.request.body.missing.
            requestReport = ValidationReport.from(requestReport.getMessages().stream()
                    .filter(m -> !m.getKey().equals("validation.request.contentType.notAllowed"))
                    .toList());
        }
        String exchange = method + " " + target + " -> " + status;
        if (requestReport.getMessages().stream()
                .anyMatch(m -> m.getKey().startsWith("validation.request.path.missing")
                        || m.getKey().startsWith("validation.request.operation.notAllowed"))) {
            // Not an operation of the API: the router's 404 or 405 answers it, as a problem.
            if (status != 404 && status != 405) {
                throw new AssertionError(exchange + ": the document has no such operation, but the API answered "
                        + status + "\n" + describe(requestReport));
            }
            return;
        }
        if (requestReport.hasErrors() && (status < 400 || status >= 500)) {
            throw new AssertionError(exchange + ": the request breaks the API's contract, yet the API answered "
                    + status + "\n" + describe(requestReport));
        }
        ValidationReport responseReport = VALIDATOR.validateResponse(
                path, Request.Method.valueOf(method.toUpperCase(Locale.ROOT)), response.build());
        if (responseReport.hasErrors()) {
            throw new AssertionError(exchange + ": the response breaks the API's contract\n" + describe(responseReport)
                    + "\nresponse body: " + responseBody);
        }
    }

    /**
     * {@code client}, with every exchange it makes checked as by {@link #check}: a violation is an {@link
     * AssertionError} thrown from {@code send}. Request bodies are read from their publisher again (the
     * JDK's {@code BodyPublishers.ofString}, {@code ofByteArray} and {@code noBody} can be), responses must
     * be kept as a {@code String} or {@code byte[]}.
     */
    public static HttpClient checking(HttpClient client) {
        return checking(client, violation -> {});
    }

    /**
     * As {@link #checking(HttpClient)}, also handing each violation to {@code violations} before it is thrown,
     * for callers whose code under test may catch the error (a command line that turns failures into exit codes).
     */
    public static HttpClient checking(HttpClient client, Consumer<? super AssertionError> violations) {
        return new CheckingClient(client, violations);
    }

    /** Checks one exchange of a {@link java.net.http.HttpClient}. */
    public static void check(HttpRequest request, HttpResponse<?> response) {
        URI uri = request.uri();
        String target = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        check(
                request.method(),
                target,
                request.headers(),
                body(request),
                response.statusCode(),
                response.headers(),
                text(request, response.body()));
    }

    /** The request's body as text, null when it has none. */
    private static String body(HttpRequest request) {
        HttpRequest.BodyPublisher publisher = request.bodyPublisher().orElse(null);
        if (publisher == null || publisher.contentLength() == 0) {
            return null;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CompletableFuture<Void> done = new CompletableFuture<>();
        publisher.subscribe(new Flow.Subscriber<ByteBuffer>() {
            @Override
            public void onSubscribe(Flow.Subscription subscription) {
                subscription.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(ByteBuffer item) {
                byte[] chunk = new byte[item.remaining()];
                item.get(chunk);
                bytes.writeBytes(chunk);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }

            @Override
            public void onComplete() {
                done.complete(null);
            }
        });
        try {
            done.get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(request + ": interrupted while reading the request body again", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new AssertionError(request + ": cannot read the request body again to check it", e);
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static String text(HttpRequest request, Object body) {
        if (body instanceof String s) {
            return s;
        }
        if (body instanceof byte[] b) {
            return new String(b, StandardCharsets.UTF_8);
        }
        throw new AssertionError(request + ": cannot check a response body kept as "
                + (body == null ? "nothing" : body.getClass().getName())
                + " (expected: BodyHandlers.ofString or ofByteArray)");
    }

    /**
     * The validator checks an operation's own {@code security} only; the document's top-level one (bearerAuth:
     * {@code Authorization: Bearer ...}, or consoleSession: the console's cookie) applies to every operation
     * that has none of its own.
     */
    private static ValidationReport globalSecurity(Request request, ApiOperation operation) {
        if (operation.getOperation().getSecurity() != null
                || request.getHeaderValue("Authorization")
                        .filter(v -> v.regionMatches(true, 0, "Bearer ", 0, 7))
                        .isPresent()
                || request.getHeaderValue("Cookie")
                        .filter(v -> v.contains(CONSOLE_COOKIE + "="))
                        .isPresent()) {
            return ValidationReport.empty();
        }
        return ValidationReport.singleton(ValidationReport.Message.create(
                        "validation.request.security.missing",
                        "no 'Authorization: Bearer ...' header nor console session cookie (the document's top-level"
                                + " security, bearerAuth or consoleSession)")
                .build());
    }

    /** The console session's cookie (the document's consoleSession scheme). */
    private static final String CONSOLE_COOKIE = "underpass_session";

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    private static String describe(ValidationReport report) {
        return report.getMessages().stream()
                .filter(m -> m.getLevel() == ValidationReport.Level.ERROR)
                .map(m -> "  " + m.getKey() + ": " + m.getMessage()
                        + (m.getNestedMessages().isEmpty()
                                ? ""
                                : m.getNestedMessages().stream()
                                        .map(n -> "\n    " + n.getKey() + ": " + n.getMessage())
                                        .collect(Collectors.joining())))
                .collect(Collectors.joining("\n"));
    }

    /** An HTTP client that checks each exchange of the one it wraps. */
    private static final class CheckingClient extends HttpClient {
        private final HttpClient client;
        private final Consumer<? super AssertionError> violations;

        CheckingClient(HttpClient client, Consumer<? super AssertionError> violations) {
            this.client = client;
            this.violations = violations;
        }

        private <T> HttpResponse<T> checked(HttpRequest request, HttpResponse<T> response) {
            try {
                check(request, response);
            } catch (AssertionError e) {
                violations.accept(e);
                throw e;
            }
            return response;
        }

        @Override
        public <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler)
                throws IOException, InterruptedException {
            return checked(request, client.send(request, handler));
        }

        @Override
        public <T> CompletableFuture<HttpResponse<T>> sendAsync(
                HttpRequest request, HttpResponse.BodyHandler<T> handler) {
            return client.sendAsync(request, handler).thenApply(r -> checked(request, r));
        }

        @Override
        public <T> CompletableFuture<HttpResponse<T>> sendAsync(
                HttpRequest request, HttpResponse.BodyHandler<T> handler, HttpResponse.PushPromiseHandler<T> pushes) {
            return client.sendAsync(request, handler, pushes).thenApply(r -> checked(request, r));
        }

        @Override
        public Optional<CookieHandler> cookieHandler() {
            return client.cookieHandler();
        }

        @Override
        public Optional<Duration> connectTimeout() {
            return client.connectTimeout();
        }

        @Override
        public Redirect followRedirects() {
            return client.followRedirects();
        }

        @Override
        public Optional<ProxySelector> proxy() {
            return client.proxy();
        }

        @Override
        public SSLContext sslContext() {
            return client.sslContext();
        }

        @Override
        public SSLParameters sslParameters() {
            return client.sslParameters();
        }

        @Override
        public Optional<Authenticator> authenticator() {
            return client.authenticator();
        }

        @Override
        public Version version() {
            return client.version();
        }

        @Override
        public Optional<Executor> executor() {
            return client.executor();
        }

        @Override
        public void shutdown() {
            client.shutdown();
        }

        @Override
        public void shutdownNow() {
            client.shutdownNow();
        }

        @Override
        public boolean awaitTermination(Duration duration) throws InterruptedException {
            return client.awaitTermination(duration);
        }

        @Override
        public boolean isTerminated() {
            return client.isTerminated();
        }

        @Override
        public void close() {
            client.close();
        }
    }
}
