package dev.underpass.controlplane.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.core.io.JsonEOFException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.underpass.controlplane.core.Refused;
import java.io.IOException;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The API's JSON: strict on input (unknown and repeated fields are errors: a repeated one would
 * mean whatever the last copy says, which a proxy or a log may read differently), ISO-8601 times,
 * no nulls on output.
 */
public final class Json {
    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .addModule(new JavaTimeModule())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS) // "443" is not a port, 1 is not true
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT) // nor is 443.5
            .withCoercionConfig(
                    LogicalType.Textual,
                    c -> c.setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                            .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                            .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail)) // nor is 42 a name
            .defaultPropertyInclusion(
                    JsonInclude.Value.construct(JsonInclude.Include.NON_NULL, JsonInclude.Include.USE_DEFAULTS))
            .build();

    private Json() {}

    /** Reads a request body, turning every malformed input into a 400 that names the field. */
    public static <T> T read(byte[] body, Class<T> type) {
        if (body.length == 0) {
            return null;
        }
        try {
            return MAPPER.readValue(body, type);
        } catch (ValueInstantiationException e) {
            if (e.getCause() instanceof Refused refused) {
                throw refused; // a value a type's own parser refused, such as an unknown role
            }
            throw invalid(e);
        } catch (JacksonException e) {
            throw invalid(e);
        } catch (IOException e) {
            throw new ApiException(400, "cannot read the request body: " + e.getMessage());
        }
    }

    private static RuntimeException invalid(JacksonException e) {
        if (e.getCause() instanceof Refused refused) {
            return refused;
        }
        String field = e instanceof com.fasterxml.jackson.databind.JsonMappingException m
                ? m.getPath().stream()
                        .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                        .collect(Collectors.joining("."))
                        .replace(".[", "[")
                : "";
        String what;
        JsonParser duplicate = duplicate(e);
        if (duplicate != null) {
            field = path(duplicate.getParsingContext());
            what = "given more than once (expected: each field once)";
        } else if (e instanceof UnrecognizedPropertyException u) {
            what = "unknown field (expected one of: " + u.getKnownPropertyIds() + ")";
        } else if (e instanceof InvalidFormatException f) {
            what = "'" + f.getValue() + "' (expected: " + jsonType(f.getTargetType()) + ")";
        } else if (e instanceof JsonEOFException || e.getCause() instanceof JsonEOFException) {
            what = "the JSON ends early (expected: a complete JSON document)";
        } else if (e instanceof MismatchedInputException m
                && m.getOriginalMessage().startsWith("Trailing token")) {
            what = "more JSON after the end of the document (expected: a single JSON object)";
        } else if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            // Jackson's own text names Java classes; say it in JSON's terms.
            what = "wrong type (expected: " + jsonType(m.getTargetType()) + ")";
        } else {
            what = e.getOriginalMessage();
        }
        String where = e.getLocation() == null
                ? ""
                : " (line " + e.getLocation().getLineNr() + ", column "
                        + e.getLocation().getColumnNr() + ")";
        return ApiException.invalid(List.of((field.isEmpty() ? "body" : field) + ": " + what + where));
    }

    /** The parser that found a field given twice, where {@code e} is or wraps that complaint; else null. */
    private static JsonParser duplicate(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof StreamReadException r
                    && r.getProcessor() instanceof JsonParser p
                    && r.getOriginalMessage().startsWith("Duplicate field")) {
                return p;
            }
        }
        return null;
    }

    /** Where {@code context} is in the document, as {@code listeners[0].port}. */
    private static String path(JsonStreamContext context) {
        StringBuilder path = new StringBuilder();
        for (JsonStreamContext c = context; c != null && !c.inRoot(); c = c.getParent()) {
            path.insert(0, c.inObject() ? "." + c.getCurrentName() : "[" + c.getCurrentIndex() + "]");
        }
        return !path.isEmpty() && path.charAt(0) == '.' ? path.substring(1) : path.toString();
    }

    private static String jsonType(Class<?> type) {
        if (java.util.Collection.class.isAssignableFrom(type) || type.isArray()) {
            return "an array";
        } else if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        } else if (Number.class.isAssignableFrom(type) || type.isPrimitive()) {
            return "a number";
        } else if (type == String.class || type.isEnum()) {
            return "a string";
        } else if (java.time.temporal.Temporal.class.isAssignableFrom(type)) {
            return "a time such as 2030-01-31T12:00:00Z";
        }
        return "a JSON object";
    }

    public static byte[] write(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + value.getClass().getSimpleName() + " as JSON", e);
        }
    }
}
