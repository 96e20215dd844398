package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jdbi.v3.core.Jdbi;

/**
 * Endpoint services: what a provider account publishes. Consumers name a service as
 * {@code provider/name}; who may connect is decided by the allowed principals when an endpoint
 * is created, so removing a principal affects new endpoints only.
 */
public final class Services {
    public static final String ANY_ACCOUNT = "*";

    /**
     * A port of the service, and its {@link TargetGroup}'s targets (host:port as the provider's
     * agents reach them) and health check, flat as the API has them. Views always carry a complete check; a request may give
     * none ({@link HealthCheck#DEFAULT}) or only some fields (defaults for the others).
     */
    public record Listener(String protocol, Integer port, List<String> targets, HealthCheck healthCheck) {
        /** A listener with the default health check. */
        public Listener(String protocol, Integer port, List<String> targets) {
            this(protocol, port, targets, null);
        }
    }

    /** One target of one listener and its check, as agents run it: {@code id} is {@link HealthCheck#id}. */
    public record TargetCheck(String id, String service, int port, String target, HealthCheck check) {}

    /** The private DNS name and its verification: a TXT record proves the provider owns the name. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record PrivateDnsName(
            String name, PrivateNameState state, String verificationRecord, String verificationValue) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record View(
            String name,
            String reference,
            String description,
            List<Listener> listeners,
            List<String> allowedPrincipals,
            boolean acceptanceRequired,
            LoadBalancing loadBalancing,
            WhenAllUnhealthy whenAllUnhealthy,
            PrivateDnsName privateDns,
            Instant createdAt,
            Instant updatedAt) {
        /** The target group behind {@code listener}: its own targets and check, the service's balancing. */
        public TargetGroup targetGroup(Listener listener) {
            return new TargetGroup(listener.targets(), listener.healthCheck(), loadBalancing, whenAllUnhealthy);
        }
    }

    /** A service as consumers who may connect to it see it: no targets, no principals. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Offer(
            String reference,
            String description,
            List<Integer> ports,
            boolean acceptanceRequired,
            String privateDnsName) {}

    /** A new service; absent loadBalancing and whenAllUnhealthy take their defaults, the first allowed value. */
    public record CreateRequest(
            String name,
            String description,
            List<Listener> listeners,
            List<String> allowedPrincipals,
            Boolean acceptanceRequired,
            String privateDnsName,
            String loadBalancing,
            String whenAllUnhealthy) {
        /** A service that spreads and fails over as by default. */
        public CreateRequest(
                String name,
                String description,
                List<Listener> listeners,
                List<String> allowedPrincipals,
                Boolean acceptanceRequired,
                String privateDnsName) {
            this(name, description, listeners, allowedPrincipals, acceptanceRequired, privateDnsName, null, null);
        }
    }

    /**
     * Changes to a service; absent fields stay as they are, an empty privateDnsName removes it.
     * Listeners replace every listener, with their health checks.
     */
    public record UpdateRequest(
            String description,
            List<Listener> listeners,
            List<String> allowedPrincipals,
            Boolean acceptanceRequired,
            String privateDnsName,
            String loadBalancing,
            String whenAllUnhealthy) {
        /** Changes that keep how the service spreads and fails over. */
        public UpdateRequest(
                String description,
                List<Listener> listeners,
                List<String> allowedPrincipals,
                Boolean acceptanceRequired,
                String privateDnsName) {
            this(description, listeners, allowedPrincipals, acceptanceRequired, privateDnsName, null, null);
        }
    }

    private final Jdbi jdbi;
    private final Clock clock;
    private final Runnable changed;
    private final AuditLog audit;

    public Services(Jdbi jdbi, Clock clock, Runnable changed, AuditLog audit) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.changed = changed;
        this.audit = audit;
    }

    public Page<View> list(Principal p, Page.Request page) {
        p.require(Scope.SERVICES_READ);
        return jdbi.withHandle(h -> Page.of(ServiceRows.page(h, p.accountSeq(), page), page, s -> s)
                .map(seq -> ServiceRows.load(h, seq, p.account())));
    }

    /** Services of other accounts that the caller's account may connect to. */
    public Page<Offer> offers(Principal p, Page.Request page) {
        p.require(Scope.SERVICES_READ);
        return jdbi.withHandle(h -> Page.of(ServiceRows.offers(h, p, page), page, seq -> seq)
                .map(seq -> {
                    View v = ServiceRows.load(h, seq, null);
                    PrivateDnsName dns = v.privateDns();
                    return new Offer(
                            v.reference(),
                            v.description(),
                            v.listeners().stream().map(Listener::port).toList(),
                            v.acceptanceRequired(),
                            dns != null && dns.state() == PrivateNameState.VERIFIED ? dns.name() : null);
                }));
    }

    public View get(Principal p, String name) {
        p.require(Scope.SERVICES_READ);
        return jdbi.withHandle(h -> ServiceRows.load(h, ServiceRows.requireSeq(h, p, name), p.account()));
    }

    public View create(Principal p, CreateRequest r) {
        p.require(Scope.SERVICES_WRITE);
        ServiceRequests.Checked c = ServiceRequests.create(r);
        Instant now = clock.instant();
        View v = jdbi.inTransaction(h -> {
            if (ServiceRows.findSeq(h, p.accountSeq(), r.name()) != null) {
                throw Refused.conflict("service '" + r.name() + "' already exists in account " + p.account()
                        + " (expected: a new name, or 'underpass service update')");
            }
            long seq = ServiceRows.insert(
                    h,
                    p.accountSeq(),
                    r.name(),
                    r.description() == null ? "" : r.description(),
                    r.acceptanceRequired() == null || r.acceptanceRequired(),
                    c.loadBalancing(),
                    c.whenAllUnhealthy(),
                    now);
            ServiceRows.replaceListeners(h, seq, c.listeners());
            ServiceRows.replacePrincipals(h, seq, c.allowedPrincipals());
            ServiceRows.writeDns(h, seq, c.privateDnsName());
            View created = ServiceRows.load(h, seq, p.account());
            audit.record(h, p, "service.create", "service:" + created.reference(), auditDetails(created, null));
            return created;
        });
        changed.run();
        return v;
    }

    public View update(Principal p, String name, UpdateRequest r) {
        p.require(Scope.SERVICES_WRITE);
        ServiceRequests.Checked c = ServiceRequests.update(r);
        View v = jdbi.inTransaction(h -> {
            long seq = ServiceRows.requireSeq(h, p, name);
            View before = ServiceRows.load(h, seq, p.account());
            ServiceRows.update(
                    h,
                    seq,
                    r.description() != null ? r.description() : before.description(),
                    r.acceptanceRequired() != null ? r.acceptanceRequired() : before.acceptanceRequired(),
                    c.loadBalancing() != null ? c.loadBalancing() : before.loadBalancing(),
                    c.whenAllUnhealthy() != null ? c.whenAllUnhealthy() : before.whenAllUnhealthy(),
                    clock.instant());
            if (c.listeners() != null) {
                ServiceRows.replaceListeners(h, seq, c.listeners());
            }
            if (c.allowedPrincipals() != null) {
                ServiceRows.replacePrincipals(h, seq, c.allowedPrincipals());
            }
            String oldDns =
                    before.privateDns() == null ? null : before.privateDns().name();
            if (r.privateDnsName() != null && !Objects.equals(c.privateDnsName(), oldDns)) {
                ServiceRows.writeDns(h, seq, c.privateDnsName());
            }
            View after = ServiceRows.load(h, seq, p.account());
            audit.record(
                    h,
                    p,
                    "service.update",
                    "service:" + after.reference(),
                    auditDetails(after, ServiceRequests.changedFields(r)));
            return after;
        });
        changed.run();
        return v;
    }

    /** Deletes a service that no endpoint uses any more (requests, pending or available ones). */
    public void delete(Principal p, String name) {
        p.require(Scope.SERVICES_WRITE);
        jdbi.useTransaction(h -> {
            long seq = ServiceRows.requireSeq(h, p, name);
            // Locked like endpoint creation locks it, so that no endpoint appears between the count and the delete.
            ServiceRows.lock(h, seq);
            long live = ServiceRows.liveEndpoints(h, seq);
            if (live > 0) {
                throw Refused.conflict("service '" + name + "' still has " + live + " endpoint(s) requested, pending "
                        + "or available (expected: reject them first with 'underpass endpoint reject')");
            }
            ServiceRows.delete(h, seq);
            audit.record(h, p, "service.delete", "service:" + p.account() + "/" + name, Map.of());
        });
        changed.run();
    }

    /**
     * Records the outcome of a private DNS verification, if the service still has the name and
     * verification value that were checked (the provider may have changed them meanwhile).
     */
    void setDnsState(
            Principal p, String name, String dnsName, String verificationValue, PrivateNameState state, String detail) {
        boolean set = jdbi.inTransaction(h -> {
            boolean updated = ServiceRows.setDnsState(
                    h, ServiceRows.requireSeq(h, p, name), dnsName, verificationValue, state, clock.instant());
            if (updated) {
                audit.record(
                        h,
                        p.accountSeq(),
                        p.actor(),
                        "service.verifyDns",
                        "service:" + p.account() + "/" + name,
                        state == PrivateNameState.VERIFIED ? AuditLog.OK : "failed: " + detail,
                        Map.of("privateDnsName", dnsName, "state", state.text()));
            }
            return updated;
        });
        if (!set) {
            throw Refused.conflict("the private DNS name of service '" + name + "' changed during its verification "
                    + "(expected: verify again)");
        }
        changed.run();
    }

    /** What a service's record says: its ports, who may connect and how; targets stay out (there may be hundreds). */
    private static Map<String, Object> auditDetails(View v, List<String> changed) {
        Map<String, Object> d = new LinkedHashMap<>();
        if (changed != null) {
            d.put("changed", changed);
        }
        d.put("ports", v.listeners().stream().map(Listener::port).toList());
        List<String> principals = v.allowedPrincipals();
        d.put(
                "allowedPrincipals",
                principals.size() <= 20
                        ? principals
                        : List.of(String.join(",", principals.subList(0, 20)) + " and " + (principals.size() - 20)
                                + " more"));
        d.put("acceptanceRequired", v.acceptanceRequired());
        if (v.privateDns() != null) {
            d.put("privateDnsName", v.privateDns().name());
        }
        return d;
    }

    /**
     * Every target of every listener of {@code accountName}'s services, with its check: what the
     * account's agents must check. A target listed twice in a listener is checked once.
     */
    public List<TargetCheck> healthChecks(String accountName) {
        List<ServiceRows.ServiceListener> rows = jdbi.withHandle(h -> ServiceRows.listenersOf(h, accountName));
        List<TargetCheck> checks = new ArrayList<>();
        for (ServiceRows.ServiceListener r : rows) {
            int port = r.listener().port();
            for (String target : new LinkedHashSet<>(r.listener().targets())) {
                checks.add(new TargetCheck(
                        HealthCheck.id(r.service(), port, target),
                        r.service(),
                        port,
                        target,
                        r.listener().healthCheck()));
            }
        }
        return checks;
    }

    /** The health of each target of the caller's service {@code name}, from what its agents report. */
    public ServiceHealth health(Principal p, String name, HealthReports reports) {
        return ServiceHealth.of(get(p, name), p.account(), reports);
    }
}
