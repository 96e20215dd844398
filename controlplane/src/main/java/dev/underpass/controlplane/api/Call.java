package dev.underpass.controlplane.api;

import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import java.util.List;
import java.util.Map;

/** One API request as an operation sees it: the caller, path and query parameters, the body. */
final class Call {
    private final Principal principal;
    private final Map<String, String> path;
    private final Map<String, List<String>> query;
    private final byte[] body;

    Call(Principal principal, Map<String, String> path, Map<String, List<String>> query, byte[] body) {
        this.principal = principal;
        this.path = path;
        this.query = query;
        this.body = body;
    }

    Principal principal() {
        return principal;
    }

    String path(String name) {
        return path.get(name);
    }

    /** A query parameter given at most once, or null. */
    String query(String name) {
        List<String> values = query.get(name);
        if (values == null || values.isEmpty()) {
            return null;
        }
        if (values.size() > 1) {
            throw new ApiException(
                    400, "query parameter " + name + " given " + values.size() + " times (expected: once)");
        }
        return values.getFirst();
    }

    Integer queryInt(String name) {
        String v = query(name);
        try {
            return v == null ? null : Integer.valueOf(v);
        } catch (NumberFormatException e) {
            throw new ApiException(400, "query parameter " + name + ": '" + v + "' (expected: a whole number)");
        }
    }

    Page.Request page() {
        return Page.Request.of(queryInt("limit"), query("pageToken"));
    }

    <T> T body(Class<T> type) {
        return Json.read(body, type);
    }
}
