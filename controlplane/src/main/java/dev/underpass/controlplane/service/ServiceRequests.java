package dev.underpass.controlplane.service;

import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.service.Services.CreateRequest;
import dev.underpass.controlplane.service.Services.Listener;
import dev.underpass.controlplane.service.Services.UpdateRequest;
import dev.underpass.protocol.HostAndPort;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The rules of a request to create or change a service: every invalid field adds one error, and
 * a request with any is refused with all of them; a valid one comes out with its defaults.
 */
final class ServiceRequests {
    static final int MAX_LISTENERS = 16;
    static final int MAX_TARGETS = 16;
    static final int MAX_PRINCIPALS = 256;

    /**
     * A request's fields, checked: listeners with complete health checks, principals once each, the
     * private DNS name in lowercase. In an update, null where the request leaves a field as it is.
     */
    record Checked(
            List<Listener> listeners,
            List<String> allowedPrincipals,
            String privateDnsName,
            LoadBalancing loadBalancing,
            WhenAllUnhealthy whenAllUnhealthy) {}

    private ServiceRequests() {}

    /** {@code r} checked; absent settings take their defaults. */
    static Checked create(CreateRequest r) {
        if (r == null) {
            throw Refused.invalid(List.of("body: missing (expected: a JSON object with name and listeners)"));
        }
        List<String> errors = new ArrayList<>();
        Names.check(errors, "name", r.name());
        checkDescription(errors, r.description());
        List<Listener> listeners = checkListeners(errors, r.listeners());
        List<String> principals =
                checkPrincipals(errors, r.allowedPrincipals() == null ? List.of() : r.allowedPrincipals());
        String dns = checkDnsName(errors, r.privateDnsName());
        LoadBalancing balancing = checkSetting(
                errors,
                "loadBalancing",
                r.loadBalancing(),
                LoadBalancing.DEFAULT,
                LoadBalancing::of,
                LoadBalancing.values());
        WhenAllUnhealthy whenAllUnhealthy = checkSetting(
                errors,
                "whenAllUnhealthy",
                r.whenAllUnhealthy(),
                WhenAllUnhealthy.DEFAULT,
                WhenAllUnhealthy::of,
                WhenAllUnhealthy.values());
        Names.reject(errors);
        return new Checked(listeners, principals, dns, balancing, whenAllUnhealthy);
    }

    /** {@code r} checked; an empty private DNS name (its removal) comes out as null, as an absent one does. */
    static Checked update(UpdateRequest r) {
        if (r == null) {
            throw Refused.invalid(List.of("body: missing (expected: a JSON object with the fields to change)"));
        }
        List<String> errors = new ArrayList<>();
        checkDescription(errors, r.description());
        List<Listener> listeners = r.listeners() == null ? null : checkListeners(errors, r.listeners());
        List<String> principals = r.allowedPrincipals() == null ? null : checkPrincipals(errors, r.allowedPrincipals());
        String dns = r.privateDnsName() == null || r.privateDnsName().isEmpty()
                ? null
                : checkDnsName(errors, r.privateDnsName());
        LoadBalancing balancing = r.loadBalancing() == null
                ? null
                : checkSetting(
                        errors,
                        "loadBalancing",
                        r.loadBalancing(),
                        LoadBalancing.DEFAULT,
                        LoadBalancing::of,
                        LoadBalancing.values());
        WhenAllUnhealthy whenAllUnhealthy = r.whenAllUnhealthy() == null
                ? null
                : checkSetting(
                        errors,
                        "whenAllUnhealthy",
                        r.whenAllUnhealthy(),
                        WhenAllUnhealthy.DEFAULT,
                        WhenAllUnhealthy::of,
                        WhenAllUnhealthy.values());
        Names.reject(errors);
        return new Checked(listeners, principals, dns, balancing, whenAllUnhealthy);
    }

    /** The fields an update gives, for its audit record. */
    static List<String> changedFields(UpdateRequest r) {
        List<String> f = new ArrayList<>();
        if (r.description() != null) {
            f.add("description");
        }
        if (r.listeners() != null) {
            f.add("listeners");
        }
        if (r.allowedPrincipals() != null) {
            f.add("allowedPrincipals");
        }
        if (r.acceptanceRequired() != null) {
            f.add("acceptanceRequired");
        }
        if (r.privateDnsName() != null) {
            f.add("privateDnsName");
        }
        if (r.loadBalancing() != null) {
            f.add("loadBalancing");
        }
        if (r.whenAllUnhealthy() != null) {
            f.add("whenAllUnhealthy");
        }
        return f;
    }

    private static void checkDescription(List<String> errors, String description) {
        if (description != null && description.length() > 256) {
            errors.add("description: " + description.length() + " characters (expected: at most 256)");
        }
        if (description != null && Names.hasControlCharacters(description)) {
            errors.add(
                    "description: contains control characters (expected: printable text; it is shown to other accounts)");
        }
    }

    private static List<Listener> checkListeners(List<String> errors, List<Listener> listeners) {
        if (listeners == null || listeners.isEmpty()) {
            errors.add(
                    "listeners: missing (expected: at least one, e.g. {\"port\": 443, \"targets\": [\"git.internal:443\"]})");
            return List.of();
        }
        if (listeners.size() > MAX_LISTENERS) {
            errors.add("listeners: " + listeners.size() + " (expected: at most " + MAX_LISTENERS + ")");
        }
        List<Listener> clean = new ArrayList<>();
        Set<Integer> ports = new HashSet<>();
        for (int i = 0; i < listeners.size(); i++) {
            Listener l = listeners.get(i);
            String at = "listeners[" + i + "]";
            if (l == null) {
                errors.add(at + ": null (expected: an object with port and targets)");
                continue;
            }
            String protocol = l.protocol() == null ? "tcp" : l.protocol().toLowerCase(Locale.ROOT);
            if (!"tcp".equals(protocol)) {
                errors.add(at + ".protocol: '" + l.protocol() + "' (expected: tcp)");
            }
            if (l.port() == null || l.port() < 1 || l.port() > 65535) {
                errors.add(at + ".port: " + l.port() + " (expected: 1-65535)");
            } else if (!ports.add(l.port())) {
                errors.add(at + ".port: " + l.port() + " (expected: each port once per service)");
            }
            List<String> targets = l.targets() == null ? List.of() : l.targets();
            if (targets.isEmpty() || targets.size() > MAX_TARGETS) {
                errors.add(at + ".targets: " + targets.size() + " given (expected: 1-" + MAX_TARGETS
                        + " host:port entries)");
            }
            for (int k = 0; k < targets.size(); k++) {
                String t = targets.get(k);
                try {
                    HostAndPort.parseDialable(t);
                } catch (RuntimeException e) {
                    errors.add(at + ".targets[" + k + "]: '" + t + "' (expected: host:port as the agent reaches it)");
                }
            }
            HealthCheck check = HealthChecks.complete(errors, at + ".healthCheck", l.healthCheck());
            clean.add(new Listener(protocol, l.port(), List.copyOf(targets), check));
        }
        return clean;
    }

    /** The setting spelled {@code value}, or {@code absent} when there is none; an unknown spelling adds an error. */
    private static <E extends Enum<E>> E checkSetting(
            List<String> errors,
            String field,
            String value,
            E absent,
            Function<String, Optional<E>> parse,
            E[] allowed) {
        if (value == null) {
            return absent;
        }
        Optional<E> parsed = parse.apply(value);
        if (parsed.isEmpty()) {
            errors.add(field + ": '" + value + "' (expected: "
                    + Arrays.stream(allowed).map(Object::toString).collect(Collectors.joining(" or ")) + ")");
        }
        return parsed.orElse(absent);
    }

    private static List<String> checkPrincipals(List<String> errors, List<String> principals) {
        if (principals.size() > MAX_PRINCIPALS) {
            errors.add("allowedPrincipals: " + principals.size() + " (expected: at most " + MAX_PRINCIPALS + ")");
        }
        for (int i = 0; i < principals.size(); i++) {
            String a = principals.get(i);
            if (!Services.ANY_ACCOUNT.equals(a) && !Names.valid(a)) {
                errors.add("allowedPrincipals[" + i + "]: '" + a
                        + "' (expected: an account name, or * for every account)");
            }
        }
        return List.copyOf(new LinkedHashSet<>(principals));
    }

    private static String checkDnsName(List<String> errors, String name) {
        if (name == null) {
            return null;
        }
        String lower = name.toLowerCase(Locale.ROOT);
        if (!Names.validDnsName(lower)) {
            errors.add("privateDnsName: '" + name + "' (expected: a DNS name such as git.internal.example.com)");
        }
        return lower;
    }
}
