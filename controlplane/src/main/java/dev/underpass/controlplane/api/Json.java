package dev.underpass.controlplane.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.underpass.controlplane.ApiException;
import java.io.IOException;
import java.util.List;
import java.util.stream.Collectors;

/** The API's JSON: strict on input (unknown fields are errors), ISO-8601 times, no nulls on output. */
public final class Json {
    public static final ObjectMapper MAPPER = new ObjectMapper()
            .registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL);

    private Json() {
    }

    /** Reads a request body, turning every malformed input into a 400 that names the field. */
    public static <T> T read(byte[] body, Class<T> type) {
        if (body.length == 0) {
            return null;
        }
        try {
            return MAPPER.readValue(body, type);
        } catch (ValueInstantiationException e) {
            if (e.getCause() instanceof ApiException api) {
                throw api;
            }
            throw invalid(e);
        } catch (JacksonException e) {
            throw invalid(e);
        } catch (IOException e) {
            throw new ApiException(400, "cannot read the request body: " + e.getMessage());
        }
    }

    private static ApiException invalid(JacksonException e) {
        if (e.getCause() instanceof ApiException api) {
            return api;
        }
        String field = e instanceof com.fasterxml.jackson.databind.JsonMappingException m ? m.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining(".")).replace(".[", "[") : "";
        String what;
        if (e instanceof UnrecognizedPropertyException u) {
            what = "unknown field (expected one of: " + u.getKnownPropertyIds() + ")";
        } else if (e instanceof InvalidFormatException f) {
            what = "'" + f.getValue() + "' is not a valid " + f.getTargetType().getSimpleName();
        } else {
            what = e.getOriginalMessage();
        }
        String where = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
                + e.getLocation().getColumnNr() + ")";
        return ApiException.invalid(List.of((field.isEmpty() ? "body" : field) + ": " + what + where));
    }

    public static byte[] write(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + value.getClass().getSimpleName() + " as JSON", e);
        }
    }
}
