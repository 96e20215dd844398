package dev.underpass.controlplane.api;

import com.atlassian.oai.validator.OpenApiInteractionValidator;
import com.atlassian.oai.validator.model.ApiOperation;
import com.atlassian.oai.validator.model.Request;
import com.atlassian.oai.validator.model.SimpleRequest;
import com.atlassian.oai.validator.model.SimpleResponse;
import com.atlassian.oai.validator.report.ValidationReport;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The API's contract, checked: every request that the API tests send and every response they get is
 * validated against the OpenAPI document that the API serves ({@link Routes#OPENAPI_RESOURCE}), with
 * Atlassian's OpenAPI request validator (paths, methods, parameters, headers, content types, and bodies
 * against the document's JSON Schemas), so the document cannot drift from the code.
 *
 * <p>Every response must match its operation's documented response for its status: headers, content
 * type and body. A request may break the contract only where the test means it to (a missing key, a
 * malformed body, an unknown path): then the API must have refused it with a 4xx, itself documented
 * (unknown paths and methods: 404 or 405). A request outside the contract that the API accepted, or a
 * response outside it, fails the test with every violation listed.
 */
final class ApiContract {
    private static final OpenApiInteractionValidator VALIDATOR =
            OpenApiInteractionValidator.createForInlineApiSpecification(document())
                    .withBasePathOverride("/")
                    .withCustomRequestValidation(ApiContract::globalSecurity)
                    .build();

    private ApiContract() {}

    private static String document() {
        try (InputStream in = Routes.class.getResourceAsStream(Routes.OPENAPI_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(Routes.OPENAPI_RESOURCE + " is missing");
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
    static void check(
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
     * The validator checks an operation's own {@code security} only; the document's top-level one (bearerAuth:
     * {@code Authorization: Bearer ...}) applies to every operation that has none of its own.
     */
    private static ValidationReport globalSecurity(Request request, ApiOperation operation) {
        if (operation.getOperation().getSecurity() != null
                || request.getHeaderValue("Authorization")
                        .filter(v -> v.regionMatches(true, 0, "Bearer ", 0, 7))
                        .isPresent()) {
            return ValidationReport.empty();
        }
        return ValidationReport.singleton(ValidationReport.Message.create(
                        "validation.request.security.missing",
                        "no 'Authorization: Bearer ...' header (the document's top-level security, bearerAuth)")
                .build());
    }

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
}
