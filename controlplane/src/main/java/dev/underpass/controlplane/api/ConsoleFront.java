package dev.underpass.controlplane.api;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.credential.ConsoleSessions;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.CookieHeaderNames;
import io.netty.handler.codec.http.cookie.DefaultCookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import io.netty.handler.codec.http.cookie.ServerCookieEncoder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.SocketAddress;
import java.util.Map;
import java.util.Set;

/**
 * The web console's side of the API port (ADR 26): its files, served from the jar with a strict
 * Content-Security-Policy, and its sign-in ({@code /console/session}), which trades an API key
 * for a session cookie ({@code HttpOnly}, {@code Secure}, {@code SameSite=Strict}) and a CSRF
 * token. Everything else the console shows or changes goes through the REST API under
 * {@code /v1}, which takes the cookie in place of a key, and the token in {@link #CSRF_HEADER} on
 * every change.
 */
final class ConsoleFront {
    /** Where the console lives on the API port. */
    static final String PREFIX = "/console";

    static final String COOKIE = "underpass_session";
    /** The header that carries a session's CSRF token on every request that changes something. */
    static final String CSRF_HEADER = "underpass-csrf";

    /** Only the console's own files and API calls, nothing inline, no framing. */
    static final String CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; "
            + "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static final String FILES = "/dev/underpass/controlplane/console/";
    private static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "svg", "image/svg+xml");
    private static final Set<String> READS = Set.of("GET", "HEAD");

    /** What a session sign-in answers: the CSRF token, how long an idle session lasts, and who signed in. */
    record SignedIn(String csrf, long idleTimeoutSeconds, Routes.Whoami whoami) {}

    /** The sign-in request: the API key, sent once. */
    record SignIn(String apiKey) {}

    private final ConsoleSessions sessions;

    ConsoleFront(ConsoleSessions sessions) {
        this.sessions = sessions;
    }

    static boolean serves(String path) {
        return path.equals(PREFIX) || path.startsWith(PREFIX + "/");
    }

    /** Answers a request under {@link #PREFIX}. */
    FullHttpResponse handle(
            String method, String path, String cookieHeader, String contentType, SocketAddress from, byte[] body) {
        if (path.equals(PREFIX + "/session")) {
            return session(method, cookieHeader, contentType, from, body);
        }
        if (!READS.contains(method)) {
            throw new ApiException(
                    405, "the console's files are read with GET", java.util.List.of(), Map.of("allow", "GET"));
        }
        String name =
                path.equals(PREFIX) || path.equals(PREFIX + "/") ? "index.html" : path.substring(PREFIX.length() + 1);
        String type = TYPES.get(name.substring(name.lastIndexOf('.') + 1));
        byte[] file = name.matches("[a-z0-9-]+\\.[a-z]+") && type != null ? load(name) : null;
        if (file == null) {
            throw new ApiException(404, "the console has no file " + path);
        }
        FullHttpResponse r =
                new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.wrappedBuffer(file));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, type);
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
        secure(r);
        return r;
    }

    /** The headers every console answer carries. */
    static void secure(FullHttpResponse r) {
        r.headers().set("content-security-policy", CONTENT_SECURITY_POLICY);
        r.headers().set("x-content-type-options", "nosniff");
        r.headers().set("referrer-policy", "no-referrer");
        r.headers().set("x-frame-options", "DENY");
        r.headers().set("cross-origin-opener-policy", "same-origin");
    }

    private FullHttpResponse session(
            String method, String cookieHeader, String contentType, SocketAddress from, byte[] body) {
        switch (method) {
            case "POST" -> {
                // A form on another site can post text, never JSON without the browser asking first:
                // nobody can sign a visitor in to the attacker's account (login CSRF).
                if (contentType == null
                        || !contentType.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
                    throw new ApiException(415, "sign in with a JSON body (Content-Type: application/json)");
                }
                SignIn in = Json.read(body, SignIn.class);
                if (in.apiKey() == null || in.apiKey().isBlank()) {
                    throw Refused.invalid("apiKey: required (an API key, upk_...)");
                }
                ConsoleSessions.Opened opened = sessions.signIn(in.apiKey().strip(), from);
                FullHttpResponse r = json(201, signedIn(opened.csrf(), opened.principal()));
                r.headers().set(HttpHeaderNames.SET_COOKIE, cookie(opened.secret(), -1));
                return r;
            }
            case "GET" -> {
                ConsoleSessions.Current current = current(cookieHeader);
                return json(200, signedIn(current.csrf(), current.principal()));
            }
            case "DELETE" -> {
                String secret = secret(cookieHeader);
                if (secret != null) {
                    try {
                        sessions.end(sessions.authenticate(secret).id());
                    } catch (Refused ended) {
                        // already over: signing out again is no error
                    }
                }
                FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
                r.headers().set(HttpHeaderNames.SET_COOKIE, cookie("", 0));
                secure(r);
                return r;
            }
            default ->
                throw new ApiException(
                        405,
                        "method " + method + " is not allowed on " + PREFIX + "/session (expected: POST, GET, DELETE)",
                        java.util.List.of(),
                        Map.of("allow", "POST, GET, DELETE"));
        }
    }

    /** The session of a request's cookie header. */
    ConsoleSessions.Current current(String cookieHeader) {
        String secret = secret(cookieHeader);
        if (secret == null) {
            throw Refused.unauthenticated("no console session (sign in at " + PREFIX + "/)");
        }
        return sessions.authenticate(secret);
    }

    /** The caller of an API request that came with the session cookie and no key; a change needs the CSRF token. */
    Principal caller(String method, String cookieHeader, String csrf) {
        ConsoleSessions.Current current = current(cookieHeader);
        if (!READS.contains(method) && !ConsoleSessions.csrfMatches(current, csrf)) {
            throw Refused.forbidden("a change made with a console session needs the session's CSRF token in header "
                    + CSRF_HEADER + " (the console sends it; a request from another site cannot)");
        }
        return current.principal();
    }

    static boolean hasSession(String cookieHeader) {
        return secret(cookieHeader) != null;
    }

    private static String secret(String cookieHeader) {
        if (cookieHeader == null) {
            return null;
        }
        for (Cookie c : ServerCookieDecoder.STRICT.decodeAll(cookieHeader)) {
            if (COOKIE.equals(c.name()) && !c.value().isEmpty()) {
                return c.value();
            }
        }
        return null;
    }

    private static String cookie(String value, long maxAgeSeconds) {
        DefaultCookie c = new DefaultCookie(COOKIE, value);
        c.setPath("/");
        c.setHttpOnly(true);
        c.setSecure(true);
        c.setSameSite(CookieHeaderNames.SameSite.Strict);
        if (maxAgeSeconds >= 0) {
            c.setMaxAge(maxAgeSeconds);
        }
        return ServerCookieEncoder.STRICT.encode(c);
    }

    private static SignedIn signedIn(String csrf, Principal p) {
        return new SignedIn(csrf, ConsoleSessions.IDLE.toSeconds(), Routes.Whoami.of(p));
    }

    private static FullHttpResponse json(int status, Object body) {
        FullHttpResponse r = new DefaultFullHttpResponse(
                HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status), Unpooled.wrappedBuffer(Json.write(body)));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        secure(r);
        return r;
    }

    private static byte[] load(String name) {
        try (InputStream in = ConsoleFront.class.getResourceAsStream(FILES + name)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
