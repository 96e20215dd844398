package dev.underpass.controlplane.api;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Maps a method and path to its operation. Paths are templates such as
 * {@code /v1/endpoints/{id}/accept}; a segment in braces matches any one segment.
 */
final class Router {
    /** An operation: what it returns becomes the response body (null for none). */
    interface Handler {
        Object handle(Call call) throws Exception;
    }

    /** One route; {@code authenticated} routes need an API key, {@code status} is the success status. */
    record Route(String method, String template, int status, boolean authenticated, Handler handler) {
        String[] segments() {
            return template.substring(1).split("/");
        }
    }

    /** A matched route, with the values of its path parameters. */
    record Match(Route route, Map<String, String> parameters) {}

    private final List<Route> routes = new ArrayList<>();

    void add(String method, String template, int status, Handler handler) {
        routes.add(new Route(method, template, status, true, handler));
    }

    void addPublic(String method, String template, Handler handler) {
        routes.add(new Route(method, template, 200, false, handler));
    }

    List<Route> routes() {
        return List.copyOf(routes);
    }

    /** The route for {@code method} and {@code path}, or null; {@link #allowed} tells 404 from 405. */
    Match match(String method, String path) {
        for (Route r : routes) {
            if (r.method().equals(method)) {
                Map<String, String> params = bind(r, path);
                if (params != null) {
                    return new Match(r, params);
                }
            }
        }
        return null;
    }

    /** The methods that have a route for {@code path}. */
    List<String> allowed(String path) {
        List<String> methods = new ArrayList<>();
        for (Route r : routes) {
            if (bind(r, path) != null && !methods.contains(r.method())) {
                methods.add(r.method());
            }
        }
        return methods;
    }

    private static Map<String, String> bind(Route r, String path) {
        if (!path.startsWith("/")) {
            return null;
        }
        String[] want = r.segments();
        String[] got = path.substring(1).split("/", -1);
        if (want.length != got.length) {
            return null;
        }
        Map<String, String> params = new LinkedHashMap<>();
        for (int i = 0; i < want.length; i++) {
            if (want[i].startsWith("{")) {
                if (got[i].isEmpty()) {
                    return null;
                }
                params.put(want[i].substring(1, want[i].length() - 1), got[i]);
            } else if (!want[i].equals(got[i])) {
                return null;
            }
        }
        return params;
    }
}
