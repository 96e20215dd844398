package dev.underpass.gateway.consumer.proxy;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.gateway.audit.ConnectionAudit;
import dev.underpass.gateway.consumer.ConsumerLimit;
import dev.underpass.gateway.events.ConnectionEvents;
import io.netty.channel.Channel;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * What the forward proxy asks the store, off the event loop. Consumers authenticate with an API
 * key of their account, sent the way git, curl, Maven, npm and docker already send proxy
 * credentials: as the password (or, with no password, the user name) of HTTP Basic or SOCKS5
 * user/password authentication.
 */
public final class ProxyChecks {
    private final ApiKeys keys;
    private final Endpoints endpoints;
    private final Executor store;
    private final ConsumerLimit limit;
    /** Where the proxy's refusals and direct-egress ends are reported. */
    private final ConnectionEvents events;

    public ProxyChecks(
            ApiKeys keys, Endpoints endpoints, Executor store, ConsumerLimit limit, ConnectionEvents events) {
        this.events = events;
        this.limit = limit;
        this.keys = keys;
        this.endpoints = endpoints;
        this.store = store;
    }

    /** The API key in {@code user}/{@code password}, or null when neither holds one. */
    static String key(String user, String password) {
        if (password != null && !password.isEmpty()) {
            return password;
        }
        return user != null && user.startsWith(Secrets.API_KEY_PREFIX) ? user : null;
    }

    /** The API key of a {@code Proxy-Authorization: Basic ...} header, or null. */
    static String basicKey(String header) {
        if (header == null || !header.regionMatches(true, 0, "Basic ", 0, 6)) {
            return null;
        }
        try {
            String text =
                    new String(Base64.getDecoder().decode(header.substring(6).trim()), StandardCharsets.UTF_8);
            int colon = text.indexOf(':');
            return colon < 0 ? key(text, null) : key(text.substring(0, colon), text.substring(colon + 1));
        } catch (IllegalArgumentException notBase64) {
            return null;
        }
    }

    /**
     * Checks {@code key} against the store off the event loop, within the limits on failed
     * attempts from {@code channel}'s client, then calls {@code then} on {@code channel}'s loop
     * with the principal, or with null and why it was refused: 401 for a key the store refused,
     * 429 (with {@code retry-after}) instead once its source or prefix has failed too often, 403
     * for a key without scope {@code endpoints:connect}, 503 when the store cannot answer.
     * {@code where} names the proxy in the log.
     */
    public void check(Channel channel, String key, String where, BiConsumer<Principal, Refused> then) {
        CompletableFuture<Principal> lookup;
        try {
            lookup = CompletableFuture.supplyAsync(
                    () -> mayConnect(keys.authenticate(key, channel.remoteAddress(), where)), store);
        } catch (RejectedExecutionException busy) {
            then.accept(
                    null, new Refused(Refused.Kind.UNAVAILABLE, "the gateway is checking too many credentials; retry"));
            return;
        }
        lookup.whenCompleteAsync(
                (principal, failure) -> {
                    if (failure == null) {
                        ConnectionAudit.consumer(channel, principal, where); // who the tunnel's audit record names
                        then.accept(principal, null);
                    } else if (failure.getCause() instanceof Refused e) {
                        then.accept(null, e);
                    } else {
                        then.accept(
                                null,
                                new Refused(
                                        Refused.Kind.UNAVAILABLE,
                                        "the gateway cannot check credentials right now; retry"));
                    }
                },
                channel.eventLoop());
    }

    /**
     * {@code p} if its key may use endpoints through the proxy; else 403. A key narrowed to read
     * scopes (say, for a dashboard) is no proxy credential.
     */
    private static Principal mayConnect(Principal p) {
        if (!p.can(Scope.ENDPOINTS_CONNECT)) {
            throw Refused.forbidden("API key " + p.keyId() + " lacks scope " + Scope.ENDPOINTS_CONNECT + " (expected: "
                    + "a key of a member, admin or owner, created without --scope or with --scope "
                    + Scope.ENDPOINTS_CONNECT + "; user " + p.user() + " has role " + p.role() + ")");
        }
        return p;
    }

    /** Where the proxy reports its refusals of authenticated consumers and the ends of its direct-egress relays. */
    ConnectionEvents events() {
        return events;
    }

    /** The limit on live connections per consumer account, which every tunnel of the proxy is admitted within. */
    ConsumerLimit limit() {
        return limit;
    }

    /**
     * Why {@code host:port} is refused to {@code account}, on {@code channel}'s loop: the state of
     * the account's own endpoint by that name, or that no available endpoint of the account has it
     * (never anything about another account's names).
     */
    void whyNot(Channel channel, String account, String host, int port, Consumer<String> then) {
        String otherwise = host + ":" + port + " is not an available endpoint of account " + account
                + " (expected: a DNS name and port from 'underpass endpoint show')";
        CompletableFuture<String> lookup;
        try {
            lookup = CompletableFuture.supplyAsync(
                    () -> endpoints.whyNotAvailable(account, host, port).orElse(otherwise), store);
        } catch (RejectedExecutionException busy) {
            then.accept(otherwise);
            return;
        }
        lookup.whenCompleteAsync(
                (reason, failure) -> {
                    String why = failure == null ? reason : otherwise;
                    events.proxyRefused(channel, host + ":" + port, why);
                    then.accept(why);
                },
                channel.eventLoop());
    }
}
