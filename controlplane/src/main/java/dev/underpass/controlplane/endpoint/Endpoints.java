package dev.underpass.controlplane.endpoint;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.endpoint.EndpointState.Transition;
import dev.underpass.controlplane.service.HealthCheck;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.LoadBalancing;
import dev.underpass.controlplane.service.ServiceRows;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.service.TargetGroup;
import dev.underpass.controlplane.service.WhenAllUnhealthy;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Endpoints: a consumer account's attachment to one endpoint service, moved through
 * {@link EndpointState} by the consumer, the provider and the gateway. Every move is a
 * compare-and-set on the current state, so two concurrent decisions resolve to one outcome,
 * and every move is recorded with its time, actor and reason.
 */
public final class Endpoints {
    /** The actor name of moves made by the gateway itself. */
    public static final String GATEWAY = "gateway";

    public record Event(Instant at, EndpointState from, EndpointState to, String actor, String reason) {}

    /** Where a consumer connects for one port of the service. */
    public record Port(int servicePort, int gatewayPort, String address) {}

    /**
     * An endpoint as the API shows it. The provider sees the request (who, which service, state,
     * history) but not the consumer's addresses.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record View(
            String id,
            String account,
            String service,
            EndpointState state,
            String stateReason,
            List<String> dnsNames,
            List<Port> ports,
            Instant createdAt,
            Instant updatedAt,
            List<Event> events) {}

    public record CreateRequest(String service) {}

    public record DecisionRequest(String reason) {}

    /**
     * Which endpoints a list shows: the caller's own ({@code consumer}, also when absent) or those
     * of its services ({@code provider}); {@code side} is as the request spells it, checked by the list.
     */
    public record Filter(String side, EndpointState state, String service) {
        public boolean provider() {
            return Side.PROVIDER.text().equals(side);
        }
    }

    /**
     * An endpoint whose listeners the gateway keeps or opens, with what they need, and the DNS
     * names consumers reach it by (the generated one, and the service's private name once verified).
     * {@code targets} and {@code healthChecks} are per service port; {@code loadBalancing} and
     * {@code whenAllUnhealthy} are the service's.
     */
    public record Listening(
            String id,
            EndpointState state,
            String consumerAccount,
            String service,
            String providerAccount,
            Map<Integer, List<String>> targets,
            Map<Integer, Integer> gatewayPorts,
            List<String> dnsNames,
            Map<Integer, HealthCheck> healthChecks,
            LoadBalancing loadBalancing,
            WhenAllUnhealthy whenAllUnhealthy) {
        /** The target group behind service port {@code port}, or null when the service has no such port. */
        public TargetGroup targetGroup(int port) {
            List<String> t = targets.get(port);
            return t == null ? null : new TargetGroup(t, healthChecks.get(port), loadBalancing, whenAllUnhealthy);
        }
    }

    private final Jdbi jdbi;
    private final Runnable changed;
    private final Clock clock;
    private final AuditLog audit;
    private final EndpointViews views;
    private final EndpointMoves moves;
    private final RequestExpiry expiry;

    public Endpoints(Jdbi jdbi, Clock clock, Runnable changed, String domain, String host, AuditLog audit) {
        this.jdbi = jdbi;
        this.changed = changed;
        this.clock = clock;
        this.audit = audit;
        this.views = new EndpointViews(domain, host);
        this.moves = new EndpointMoves(clock, audit);
        this.expiry = new RequestExpiry(jdbi, clock, moves);
    }

    public View create(Principal p, CreateRequest r) {
        p.require(Scope.ENDPOINTS_WRITE);
        String ref = r == null ? null : r.service();
        int slash = ref == null ? -1 : ref.indexOf('/');
        if (slash < 1 || !Names.valid(ref.substring(0, slash)) || !Names.valid(ref.substring(slash + 1))) {
            throw Refused.invalid(List.of("service: " + (ref == null ? "missing" : "'" + ref + "'")
                    + " (expected: provider-account/service-name, as 'underpass service list --available' shows it)"));
        }
        String provider = ref.substring(0, slash);
        String name = ref.substring(slash + 1);
        Instant now = clock.instant();
        View v = jdbi.inTransaction(h -> {
            Long serviceSeq = EndpointRows.serviceSeq(h, provider, name).orElse(null);
            if (serviceSeq == null
                    || !(provider.equals(p.account()) || EndpointRows.names(h, serviceSeq, p.account()))) {
                // One answer for both, so that a consumer cannot probe which services exist.
                throw Refused.forbidden("endpoint service '" + ref + "' does not exist or does not allow account "
                        + p.account() + " (expected: a service listed by 'underpass service list --available')");
            }
            // Locks the service row, so that of two requests at once the second sees the first's endpoint below.
            EndpointRows.lockService(h, serviceSeq);
            String existing = EndpointRows.live(h, p.accountSeq(), serviceSeq).orElse(null);
            if (existing != null) {
                throw Refused.conflict("account " + p.account() + " already has endpoint " + existing + " for " + ref
                        + " (expected: one endpoint per service; delete " + existing + " first)");
            }
            boolean acceptance = EndpointRows.acceptanceRequired(h, serviceSeq);
            EndpointState first = acceptance ? EndpointState.PENDING_ACCEPTANCE : EndpointState.PENDING;
            String id = Secrets.id("ep-", 16);
            String reason = acceptance
                    ? "waiting for " + provider + " to accept"
                    : "the service accepts connection requests automatically";
            long seq = EndpointRows.insert(h, id, p.accountSeq(), serviceSeq, ref, first, reason, now);
            EndpointRows.event(h, seq, null, first, p.actor(), reason, now);
            audit.record(
                    h,
                    p.accountSeq(),
                    EndpointRows.serviceAccount(h, serviceSeq),
                    p.actor(),
                    "endpoint.create",
                    "endpoint:" + id,
                    AuditLog.OK,
                    Map.of("service", ref, "state", first.text()));
            return views.load(h, seq, true, true, p.account());
        });
        changed.run();
        return v;
    }

    public Page<View> list(Principal p, Filter f, Page.Request page) {
        p.require(Scope.ENDPOINTS_READ);
        Side side = Side.parse(f.side());
        String ref = f.service();
        if (ref != null && !ref.contains("/")) {
            if (side != Side.PROVIDER) {
                throw Refused.invalid(List.of("service: '" + ref + "' (expected: provider-account/service-name; "
                        + "a bare name is one of your own services, with side=provider)"));
            }
            ref = p.account() + "/" + ref;
        }
        String serviceRef = ref;
        return jdbi.withHandle(h -> {
            List<Long> seqs = EndpointRows.page(h, side == Side.PROVIDER, p.accountSeq(), f.state(), serviceRef, page);
            return Page.of(seqs, page, s -> s)
                    .map(seq -> views.load(h, seq, side == Side.CONSUMER, false, p.account()));
        });
    }

    /** An endpoint of the caller's account, or a request to one of its services. */
    public View get(Principal p, String id) {
        p.require(Scope.ENDPOINTS_READ);
        return jdbi.withHandle(h -> {
            Access a = access(h, p, id);
            return views.load(h, a.seq(), a.consumer(), true, p.account());
        });
    }

    /**
     * The consumer's agents that listen for endpoint {@code id} (bidirectional), as the data plane
     * knows them. Only the consumer's: where its agents listen is its own business, as its
     * addresses are, so the provider gets the same answer as a stranger.
     */
    public AgentListenerViews.Hosting agentListeners(Principal p, String id, AgentListenerViews listeners) {
        p.require(Scope.ENDPOINTS_READ);
        Access a = jdbi.withHandle(h -> access(h, p, id));
        if (!a.consumer()) {
            throw Refused.notFound("endpoint " + id);
        }
        return new AgentListenerViews.Hosting(listeners.hosting(a.consumerAccount(), id, a.service()));
    }

    public View accept(Principal p, String id, DecisionRequest r) {
        return decide(p, id, Transition.ACCEPT, r, "accepted by the provider");
    }

    /** Rejects a request, or an endpoint already accepted: its listeners close and its connections end. */
    public View reject(Principal p, String id, DecisionRequest r) {
        return decide(p, id, Transition.REJECT, r, "rejected by the provider");
    }

    private View decide(Principal p, String id, Transition t, DecisionRequest r, String defaultReason) {
        p.require(Scope.CONNECTIONS_DECIDE);
        String reason = reason(r, defaultReason);
        View v = jdbi.inTransaction(h -> {
            Access a = access(h, p, id);
            if (!a.provider()) {
                throw Refused.forbidden("only the provider of " + a.service() + " can "
                        + t.name().toLowerCase() + " endpoint " + id
                        + " (expected: 'underpass endpoint delete' for your own endpoint)");
            }
            moves.move(h, a.seq(), id, t, p, reason);
            return views.load(h, a.seq(), a.consumer(), true, p.account());
        });
        changed.run();
        return v;
    }

    /** The consumer deletes its endpoint; the gateway then closes its listeners and connections. */
    public View delete(Principal p, String id) {
        p.require(Scope.ENDPOINTS_WRITE);
        View v = jdbi.inTransaction(h -> {
            Access a = access(h, p, id);
            if (!a.consumer()) {
                throw Refused.forbidden("only account " + a.consumerAccount() + " can delete endpoint " + id
                        + " (expected: 'underpass endpoint reject' for a request to your service)");
            }
            moves.move(h, a.seq(), id, Transition.DELETE, p, "deleted by the consumer");
            return views.load(h, a.seq(), true, true, p.account());
        });
        changed.run();
        return v;
    }

    private static String reason(DecisionRequest r, String otherwise) {
        if (r == null || r.reason() == null || r.reason().isBlank()) {
            return otherwise;
        }
        if (r.reason().length() > 500) {
            throw Refused.invalid(List.of("reason: " + r.reason().length() + " characters (expected: at most 500)"));
        }
        if (Names.hasControlCharacters(r.reason())) {
            throw Refused.invalid(List.of(
                    "reason: contains control characters (expected: printable text; " + "the other account sees it)"));
        }
        return r.reason();
    }

    private record Access(long seq, String consumerAccount, String service, boolean consumer, boolean provider) {}

    /** Endpoint {@code id} as {@code p} relates to it; not found unless p's account is its consumer or provider. */
    private static Access access(Handle h, Principal p, String id) {
        Access a = EndpointRows.parties(h, id)
                .map(e -> new Access(
                        e.seq(),
                        e.consumerAccount(),
                        e.ref(),
                        e.consumer() == p.accountSeq(),
                        e.provider() != null && e.provider() == p.accountSeq()))
                .orElse(null);
        if (a == null || !(a.consumer() || a.provider())) {
            throw Refused.notFound("endpoint " + id);
        }
        return a;
    }

    /**
     * The endpoint's state and, per service port, its consumer address and the number of live
     * agent sessions of the provider that advertise one of the port's targets ({@code presence}
     * absent: not known here). See {@link Diagnosis}.
     */
    public Diagnosis diagnose(Principal p, String id, Optional<AgentPresence> presence, HealthReports health) {
        return Diagnosis.of(jdbi, get(p, id), presence, health);
    }

    // ---- The data plane's side: what to listen on, and the gateway's own moves. ----

    /** Every endpoint whose listeners should be up (available) or opened (pending). */
    public List<Listening> listening() {
        return jdbi.withHandle(h -> {
            List<Listening> result = new ArrayList<>();
            for (EndpointRows.Listened r : EndpointRows.listened(h)) {
                List<String> names = r.privateDns() == null
                        ? List.of(views.dnsName(r.id(), r.ref()))
                        : List.of(views.dnsName(r.id(), r.ref()), r.privateDns());
                Map<Integer, List<String>> targets = new LinkedHashMap<>();
                Map<Integer, HealthCheck> checks = new LinkedHashMap<>();
                for (Services.Listener l : ServiceRows.listeners(h, r.serviceSeq())) {
                    targets.put(l.port(), l.targets());
                    checks.put(l.port(), l.healthCheck());
                }
                result.add(new Listening(
                        r.id(),
                        r.state(),
                        r.consumer(),
                        r.ref(),
                        r.provider(),
                        targets,
                        EndpointRows.ports(h, r.seq()),
                        names,
                        checks,
                        r.balancing(),
                        r.whenAllUnhealthy()));
            }
            return result;
        });
    }

    /**
     * Why {@code host:port} does not lead anywhere for {@code account}, when the host names one of
     * the account's own endpoints (by generated or verified private name): its state, or the
     * ports it has. Empty when it names none, so that nothing is said about other accounts.
     */
    public Optional<String> whyNotAvailable(String account, String host, int port) {
        String lower = host.toLowerCase(Locale.ROOT);
        String name = lower.endsWith(".") ? lower.substring(0, lower.length() - 1) : lower;
        return jdbi.withHandle(h -> {
            Optional<EndpointRows.Found> found = views.generated(name)
                    ? EndpointRows.found(h, account, name.substring(0, name.indexOf('.')))
                            .filter(x -> views.dnsName(x.id(), x.ref()).equals(name))
                    : EndpointRows.foundByPrivateName(h, account, name);
            if (found.isEmpty()) {
                return Optional.<String>empty();
            }
            EndpointRows.Found f = found.get();
            if (f.state() != EndpointState.AVAILABLE) {
                return Optional.of("endpoint " + f.id() + " (" + f.ref() + ") is " + f.state() + ", not available");
            }
            List<Integer> ports = f.serviceSeq() == null
                    ? List.of()
                    : List.copyOf(ServiceRows.targets(h, f.serviceSeq()).keySet());
            if (ports.contains(port)) {
                return Optional.of("endpoint " + f.id() + " (" + f.ref() + ") port " + port
                        + " is not open on the gateway yet; " + "retry in a few seconds");
            }
            return Optional.of(
                    "endpoint " + f.id() + " (" + f.ref() + ") has no port " + port + " (its ports: " + ports + ")");
        });
    }

    /** Every gateway port held by an endpoint, so that allocation skips them. */
    public List<Integer> allocatedPorts() {
        return jdbi.withHandle(EndpointRows::allocatedPorts);
    }

    /**
     * Records the gateway ports of an endpoint's listeners and, when it was pending, makes it
     * available. False when the endpoint left pending/available meanwhile (its listeners must close).
     */
    public boolean provisioned(String id, Map<Integer, Integer> ports) {
        return jdbi.inTransaction(h -> {
            Long seq = EndpointRows.seqIn(h, id, EndpointState.PENDING, EndpointState.AVAILABLE)
                    .orElse(null);
            if (seq == null) {
                return false;
            }
            EndpointRows.replacePorts(h, seq, ports);
            if (EndpointRows.state(h, seq) == EndpointState.PENDING) {
                moves.move(h, seq, id, Transition.PROVISIONED, GATEWAY, "listening on " + ports.size() + " port(s)");
            }
            return true;
        });
    }

    /**
     * As {@link #provisioned(String, Map)}, for one node of several that share the store: records
     * {@code ports} only if the ports recorded are still {@code seen}, under a lock on the
     * endpoint's row, so that two nodes never overwrite each other. Returns the ports recorded
     * afterwards ({@code ports}, or another node's, which this node then follows); empty when the
     * endpoint left pending/available meanwhile (its listeners must close).
     */
    public Optional<Map<Integer, Integer>> provisioned(
            String id, Map<Integer, Integer> seen, Map<Integer, Integer> ports) {
        return jdbi.inTransaction(h -> {
            Long seq = EndpointRows.lockIn(h, id, EndpointState.PENDING, EndpointState.AVAILABLE)
                    .orElse(null);
            if (seq == null) {
                return Optional.empty();
            }
            Map<Integer, Integer> recorded = EndpointRows.ports(h, seq);
            if (!recorded.equals(seen)) {
                return Optional.of(recorded);
            }
            EndpointRows.replacePorts(h, seq, ports);
            if (EndpointRows.state(h, seq) == EndpointState.PENDING) {
                moves.move(h, seq, id, Transition.PROVISIONED, GATEWAY, "listening on " + ports.size() + " port(s)");
            }
            return Optional.of(ports);
        });
    }

    /** The gateway could not open the listeners of a pending endpoint. */
    public void provisioningFailed(String id, String reason) {
        jdbi.useTransaction(h -> EndpointRows.seqIn(h, id, EndpointState.PENDING)
                .ifPresent(seq -> moves.move(h, seq, id, Transition.PROVISIONING_FAILED, GATEWAY, reason)));
    }

    /** Ids of endpoints being deleted, whose listeners the gateway must close. */
    public List<String> deleting() {
        return jdbi.withHandle(h -> EndpointRows.idsIn(h, EndpointState.DELETING));
    }

    /** The gateway has closed a deleting endpoint's listeners: it is deleted. */
    public void released(String id) {
        jdbi.useTransaction(h -> EndpointRows.seqIn(h, id, EndpointState.DELETING)
                .ifPresent(seq -> moves.move(h, seq, id, Transition.RELEASED, GATEWAY, "listeners closed")));
    }

    /** Expires connection requests older than {@code ttl}; returns how many. */
    public int expireRequests(Duration ttl) {
        return expiry.expire(ttl);
    }
}
