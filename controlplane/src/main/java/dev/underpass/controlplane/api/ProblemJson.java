package dev.underpass.controlplane.api;

import static java.util.Objects.requireNonNull;

import dev.underpass.telemetry.SecretMasker;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An RFC 9457 problem document, as the API and the gateway's agent streams answer errors:
 * {@code type} (always {@code about:blank}), {@code title}, {@code status}, {@code detail}, and
 * optionally {@code instance} and {@code errors}, in that order. Every text that may quote what
 * a peer sent (detail, instance, errors) passes through {@link SecretMasker}: a secret sent in
 * the wrong place never comes back in an answer, where a proxy or a client's log could keep it.
 *
 * @param title    the status's reason phrase unless the caller has a better one
 * @param instance the request path the problem is about, or null
 * @param errors   every problem of an input, each as {@code field: value (expected: ...)}; may be empty
 */
public record ProblemJson(int status, String title, String detail, String instance, List<String> errors) {
    public static final String CONTENT_TYPE = "application/problem+json";

    public ProblemJson {
        requireNonNull(title, "title");
        requireNonNull(detail, "detail");
        errors = List.copyOf(errors);
    }

    /** A problem titled with the status's reason phrase ({@code Not Found}, {@code Too Many Requests}...). */
    public static ProblemJson of(int status, String detail) {
        return new ProblemJson(status, HttpResponseStatus.valueOf(status).reasonPhrase(), detail, null, List.of());
    }

    /** A problem with a title of the caller's own, as the gateway gives agents. */
    public static ProblemJson of(int status, String title, String detail) {
        return new ProblemJson(status, title, detail, null, List.of());
    }

    public ProblemJson withInstance(String instance) {
        return new ProblemJson(status, title, detail, instance, errors);
    }

    public ProblemJson withErrors(List<String> errors) {
        return new ProblemJson(status, title, detail, instance, errors);
    }

    /** The document's fields in their order, masked. */
    public Map<String, Object> fields() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("type", "about:blank");
        p.put("title", title);
        p.put("status", status);
        p.put("detail", SecretMasker.mask(detail));
        if (instance != null) {
            p.put("instance", SecretMasker.mask(instance));
        }
        if (!errors.isEmpty()) {
            p.put("errors", errors.stream().map(SecretMasker::mask).toList());
        }
        return p;
    }

    /** The document as UTF-8 JSON bytes. */
    public byte[] bytes() {
        return Json.write(fields());
    }
}
