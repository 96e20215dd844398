package dev.underpass.controlplane.endpoint;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import dev.underpass.controlplane.endpoint.EndpointState.Transition;
import dev.underpass.controlplane.service.HealthCheck;
import dev.underpass.controlplane.service.LoadBalancing;
import dev.underpass.controlplane.service.TargetGroup;
import dev.underpass.controlplane.service.WhenAllUnhealthy;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.Services;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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

    public record Event(Instant at, EndpointState from, EndpointState to, String actor, String reason) {
    }

    /** Where a consumer connects for one port of the service. */
    public record Port(int servicePort, int gatewayPort, String address) {
    }

    /**
     * An endpoint as the API shows it. The provider sees the request (who, which service, state,
     * history) but not the consumer's addresses.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record View(String id, String account, String service, EndpointState state, String stateReason,
                       List<String> dnsNames, List<Port> ports, Instant createdAt, Instant updatedAt, List<Event> events) {
    }

    public record CreateRequest(String service) {
    }

    public record DecisionRequest(String reason) {
    }

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
    public record Listening(String id, EndpointState state, String consumerAccount, String service, String providerAccount,
                            Map<Integer, List<String>> targets, Map<Integer, Integer> gatewayPorts, List<String> dnsNames,
                            Map<Integer, HealthCheck> healthChecks, LoadBalancing loadBalancing,
                            WhenAllUnhealthy whenAllUnhealthy) {
        /** The target group behind service port {@code port}, or null when the service has no such port. */
        public TargetGroup targetGroup(int port) {
            List<String> t = targets.get(port);
            return t == null ? null : new TargetGroup(t, healthChecks.get(port), loadBalancing, whenAllUnhealthy);
        }
    }

    private final Jdbi jdbi;
    private final Clock clock;
    private final Runnable changed;
    private final String domain;
    private final String host;
    private final AuditLog audit;

    public Endpoints(Jdbi jdbi, Clock clock, Runnable changed, String domain, String host, AuditLog audit) {
        this.jdbi = jdbi;
        this.clock = clock;
        this.changed = changed;
        this.domain = domain;
        this.host = host;
        this.audit = audit;
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
            Long serviceSeq = h.createQuery("select s.seq from services s join accounts a on a.seq = s.account_seq "
                            + "where a.name = :a and s.name = :n")
                    .bind("a", provider).bind("n", name).mapTo(Long.class).findOne().orElse(null);
            if (serviceSeq == null || !allowed(h, serviceSeq, provider, p.account())) {
                // One answer for both, so that a consumer cannot probe which services exist.
                throw Refused.forbidden("endpoint service '" + ref + "' does not exist or does not allow account "
                        + p.account() + " (expected: a service listed by 'underpass service list --available')");
            }
            // Locks the service row, so that of two requests at once the second sees the first's endpoint below.
            h.createQuery("select seq from services where seq = :s for update").bind("s", serviceSeq).mapTo(Long.class).one();
            String existing = h.createQuery("select id from endpoints where account_seq = :a and service_seq = :s "
                            + "and state <> 'deleted'")
                    .bind("a", p.accountSeq()).bind("s", serviceSeq).mapTo(String.class).findFirst().orElse(null);
            if (existing != null) {
                throw Refused.conflict("account " + p.account() + " already has endpoint " + existing + " for " + ref
                        + " (expected: one endpoint per service; delete " + existing + " first)");
            }
            boolean acceptance = h.createQuery("select acceptance_required from services where seq = :s")
                    .bind("s", serviceSeq).mapTo(Boolean.class).one();
            EndpointState first = acceptance ? EndpointState.PENDING_ACCEPTANCE : EndpointState.PENDING;
            String id = Secrets.id("ep-", 16);
            String reason = acceptance ? "waiting for " + provider + " to accept"
                    : "the service accepts connection requests automatically";
            long seq = h.createUpdate("insert into endpoints (id, account_seq, service_seq, service_ref, state, state_reason, "
                            + "version, created_at, updated_at) values (:id, :a, :s, :ref, :st, :r, 0, :t, :t)")
                    .bind("id", id).bind("a", p.accountSeq()).bind("s", serviceSeq).bind("ref", ref)
                    .bind("st", first.text()).bind("r", reason).bind("t", Sql.at(now))
                    .executeAndReturnGeneratedKeys("seq").mapTo(Long.class).one();
            event(h, seq, null, first, p.actor(), reason, now);
            long providerSeq = h.createQuery("select account_seq from services where seq = :s").bind("s", serviceSeq)
                    .mapTo(Long.class).one();
            audit.record(h, p.accountSeq(), providerSeq, p.actor(), "endpoint.create", "endpoint:" + id, AuditLog.OK,
                    Map.of("service", ref, "state", first.text()));
            return load(h, seq, true, true, p.account());
        });
        changed.run();
        return v;
    }

    private static boolean allowed(Handle h, long serviceSeq, String provider, String consumer) {
        if (provider.equals(consumer)) {
            return true;
        }
        return h.createQuery("select count(*) from service_principals where service_seq = :s "
                        + "and (principal = :c or principal = '*')")
                .bind("s", serviceSeq).bind("c", consumer).mapTo(Long.class).one() > 0;
    }

    public Page<View> list(Principal p, Filter f, Page.Request page) {
        p.require(Scope.ENDPOINTS_READ);
        Side side = Side.parse(f.side());
        StringBuilder sql = new StringBuilder("select e.seq from endpoints e ");
        if (side == Side.PROVIDER) {
            sql.append("join services s on s.seq = e.service_seq where s.account_seq = :a");
        } else {
            sql.append("where e.account_seq = :a");
        }
        sql.append(f.state() == null ? " and e.state <> 'deleted'" : " and e.state = :st");
        if (f.service() != null) {
            sql.append(" and e.service_ref = :ref");
        }
        sql.append(" and e.seq > :after order by e.seq limit :n");
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
            List<Long> seqs = h.createQuery(sql.toString()).bind("a", p.accountSeq())
                    .bind("st", f.state() == null ? null : f.state().text()).bind("ref", serviceRef)
                    .bind("after", page.after()).bind("n", page.limit() + 1).mapTo(Long.class).list();
            return Page.of(seqs, page, s -> s).map(seq -> load(h, seq, side == Side.CONSUMER, false, p.account()));
        });
    }

    /** An endpoint of the caller's account, or a request to one of its services. */
    public View get(Principal p, String id) {
        p.require(Scope.ENDPOINTS_READ);
        return jdbi.withHandle(h -> {
            Access a = access(h, p, id);
            return load(h, a.seq(), a.consumer(), true, p.account());
        });
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
                throw Refused.forbidden("only the provider of " + a.service() + " can " + t.name().toLowerCase()
                        + " endpoint " + id + " (expected: 'underpass endpoint delete' for your own endpoint)");
            }
            move(h, a.seq(), id, t, p, reason);
            return load(h, a.seq(), a.consumer(), true, p.account());
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
            move(h, a.seq(), id, Transition.DELETE, p, "deleted by the consumer");
            return load(h, a.seq(), true, true, p.account());
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
            throw Refused.invalid(List.of("reason: contains control characters (expected: printable text; "
                    + "the other account sees it)"));
        }
        return r.reason();
    }

    private record Access(long seq, String consumerAccount, String service, boolean consumer, boolean provider) {
    }

    private static Access access(Handle h, Principal p, String id) {
        Access a = h.createQuery("select e.seq, e.account_seq, ca.name as consumer, e.service_ref, s.account_seq as provider_seq "
                        + "from endpoints e join accounts ca on ca.seq = e.account_seq "
                        + "left join services s on s.seq = e.service_seq where e.id = :id")
                .bind("id", id)
                .map((rs, ctx) -> {
                    long providerSeq = rs.getLong("provider_seq");
                    boolean hasProvider = !rs.wasNull();
                    return new Access(rs.getLong("seq"), rs.getString("consumer"), rs.getString("service_ref"),
                            rs.getLong("account_seq") == p.accountSeq(), hasProvider && providerSeq == p.accountSeq());
                })
                .findOne().orElse(null);
        if (a == null || !(a.consumer() || a.provider())) {
            throw Refused.notFound("endpoint " + id);
        }
        return a;
    }

    /** A move made by principal {@code p} (the consumer or the provider). */
    private EndpointState move(Handle h, long seq, String id, Transition t, Principal p, String reason) {
        return move(h, seq, id, t, p.actor(), p.accountSeq(), reason);
    }

    /** A move made by the gateway itself. */
    private EndpointState move(Handle h, long seq, String id, Transition t, String gateway, String reason) {
        return move(h, seq, id, t, gateway, null, reason);
    }

    /**
     * Moves endpoint {@code seq} by {@code t} if its current state allows it, else refuses with
     * 409 naming the state; the update only succeeds on the state just read. The move is recorded
     * in the audit chains of the consumer and the provider; {@code actorAccount} is the account of
     * the principal who moved it, null for the gateway.
     */
    private EndpointState move(Handle h, long seq, String id, Transition t, String actor, Long actorAccount,
                               String reason) {
        Instant now = clock.instant();
        EndpointState from = EndpointState.parse(h.createQuery("select state from endpoints where seq = :s")
                .bind("s", seq).mapTo(String.class).one());
        EndpointState to = from.after(t);
        if (to == null) {
            throw Refused.conflict("endpoint " + id + " is " + from + ": it cannot be "
                    + verb(t) + " (allowed from " + from + ": "
                    + (from.allowed().isEmpty() ? "nothing" : from.allowed().stream().map(Endpoints::verb).sorted().toList()) + ")");
        }
        int n = h.createUpdate("update endpoints set state = :to, state_reason = :r, version = version + 1, updated_at = :t "
                        + "where seq = :s and state = :from")
                .bind("to", to.text()).bind("r", reason).bind("t", Sql.at(now)).bind("s", seq).bind("from", from.text())
                .execute();
        if (n == 0) {
            String now2 = h.createQuery("select state from endpoints where seq = :s").bind("s", seq).mapTo(String.class).one();
            throw Refused.conflict("endpoint " + id + " changed meanwhile: it is now " + now2 + " (expected: "
                    + from + "); look at it again and retry if still wanted");
        }
        event(h, seq, from, to, actor, reason, now);
        recordMove(h, seq, id, t, from, to, actor, actorAccount, reason);
        if (!EndpointState.LISTENING.contains(to)) {
            h.createUpdate("delete from endpoint_ports where endpoint_seq = :s").bind("s", seq).execute();
        }
        return to;
    }

    private void recordMove(Handle h, long seq, String id, Transition t, EndpointState from, EndpointState to, String actor,
                            Long actorAccount, String reason) {
        record Parties(long consumer, Long provider, String ref) {
        }
        Parties parties = h.createQuery("select e.account_seq, s.account_seq as provider, e.service_ref from endpoints e "
                        + "left join services s on s.seq = e.service_seq where e.seq = :s")
                .bind("s", seq).map((rs, ctx) -> new Parties(rs.getLong(1), (Long) rs.getObject(2, Long.class), rs.getString(3)))
                .one();
        long home = actorAccount != null ? actorAccount : parties.consumer();
        Long other = home == parties.consumer() ? parties.provider() : Long.valueOf(parties.consumer());
        String who = actorAccount == null ? AuditLog.SYSTEM : actor;
        String action = "endpoint." + switch (t) {
            case ACCEPT -> "accept";
            case REJECT -> "reject";
            case PROVISIONED -> "provisioned";
            case PROVISIONING_FAILED -> "provisioningFailed";
            case EXPIRE -> "expire";
            case DELETE -> "delete";
            case RELEASED -> "released";
        };
        String outcome = t == Transition.PROVISIONING_FAILED ? "failed: " + reason : AuditLog.OK;
        Map<String, Object> details = Map.of("service", parties.ref(), "from", from.text(), "to", to.text(), "reason", reason);
        if (other == null) { // the service is gone: only the consumer is left to tell
            audit.record(h, home, who, action, "endpoint:" + id, outcome, details);
        } else {
            audit.record(h, home, other, who, action, "endpoint:" + id, outcome, details);
        }
    }

    private static String verb(Transition t) {
        return switch (t) {
            case ACCEPT -> "accepted";
            case REJECT -> "rejected";
            case PROVISIONED -> "made available";
            case PROVISIONING_FAILED -> "marked failed";
            case EXPIRE -> "expired";
            case DELETE -> "deleted";
            case RELEASED -> "released";
        };
    }

    private static void event(Handle h, long seq, EndpointState from, EndpointState to, String actor, String reason,
                              Instant at) {
        h.createUpdate("insert into endpoint_events (endpoint_seq, at, from_state, to_state, actor, reason) "
                        + "values (:e, :at, :f, :to, :actor, :r)")
                .bind("e", seq).bind("at", Sql.at(at)).bind("f", from == null ? null : from.text()).bind("to", to.text())
                .bind("actor", actor).bind("r", reason).execute();
    }

    /**
     * An endpoint as {@code viewer} (an account name) sees it. Events made by the other party's
     * principals name only their account: user names and key ids stay inside each tenant.
     */
    private View load(Handle h, long seq, boolean consumerView, boolean withEvents, String viewer) {
        record Base(String id, String account, String ref, EndpointState state, String reason, Instant created,
                    Instant updated, String dns, String dnsState) {
        }
        Base b = h.createQuery("select e.id, a.name as account, e.service_ref, e.state, e.state_reason, e.created_at, "
                        + "e.updated_at, s.private_dns_name, s.private_dns_state from endpoints e "
                        + "join accounts a on a.seq = e.account_seq left join services s on s.seq = e.service_seq "
                        + "where e.seq = :s")
                .bind("s", seq)
                .map((rs, ctx) -> new Base(rs.getString("id"), rs.getString("account"), rs.getString("service_ref"),
                        EndpointState.parse(rs.getString("state")), rs.getString("state_reason"),
                        Sql.instant(rs, "created_at"), Sql.instant(rs, "updated_at"), rs.getString("private_dns_name"),
                        rs.getString("private_dns_state")))
                .one();
        List<String> dnsNames = null;
        List<Port> ports = null;
        if (consumerView) {
            dnsNames = new ArrayList<>();
            dnsNames.add(dnsName(b.id(), b.ref()));
            if (b.dns() != null && "verified".equals(b.dnsState())) {
                dnsNames.add(b.dns());
            }
            ports = h.createQuery("select service_port, gateway_port from endpoint_ports where endpoint_seq = :s "
                            + "order by service_port")
                    .bind("s", seq)
                    .map((rs, ctx) -> new Port(rs.getInt(1), rs.getInt(2), host + ":" + rs.getInt(2))).list();
            if (b.state() != EndpointState.AVAILABLE) {
                ports = List.of(); // allocated ports mean nothing until the endpoint is available
            }
        }
        List<Event> events = withEvents ? h.createQuery("select at, from_state, to_state, actor, reason from endpoint_events "
                        + "where endpoint_seq = :s order by seq")
                .bind("s", seq)
                .map((rs, ctx) -> new Event(Sql.instant(rs, "at"),
                        rs.getString("from_state") == null ? null : EndpointState.parse(rs.getString("from_state")),
                        EndpointState.parse(rs.getString("to_state")), actorFor(rs.getString("actor"), viewer),
                        rs.getString("reason")))
                .list() : null;
        return new View(b.id(), b.account(), b.ref(), b.state(), b.reason(), dnsNames, ports, b.created(), b.updated(), events);
    }

    /** {@code user@account (key id)} for the actor's own account, {@code account ACCOUNT} for the other one. */
    static String actorFor(String actor, String viewer) {
        int at = actor.indexOf('@');
        if (at < 0) {
            return actor; // the gateway
        }
        int end = actor.indexOf(' ', at);
        String account = actor.substring(at + 1, end < 0 ? actor.length() : end);
        return account.equals(viewer) ? actor : "account " + account;
    }

    /**
     * The endpoint's state and, per service port, its consumer address and the number of live
     * agent sessions of the provider that advertise one of the port's targets ({@code presence}
     * absent: not known here). See {@link Diagnosis}.
     */
    public Diagnosis diagnose(Principal p, String id, Optional<AgentPresence> presence, HealthReports health) {
        return Diagnosis.of(jdbi, get(p, id), presence, health);
    }

    /** The generated DNS name of an endpoint: {@code id.service.provider.domain}. */
    String dnsName(String id, String serviceRef) {
        String[] parts = serviceRef.split("/", 2);
        return id + "." + parts[1] + "." + parts[0] + "." + domain;
    }

    // ---- The data plane's side: what to listen on, and the gateway's own moves. ----

    /** Every endpoint whose listeners should be up (available) or opened (pending). */
    public List<Listening> listening() {
        return jdbi.withHandle(h -> {
            record Row(long seq, String id, EndpointState state, String consumer, String ref, String provider, long serviceSeq,
                       String privateDns, LoadBalancing balancing, WhenAllUnhealthy whenAllUnhealthy) {
            }
            List<Row> rows = h.createQuery("select e.seq, e.id, e.state, ca.name as consumer, e.service_ref, pa.name as provider, "
                            + "e.service_seq, case when s.private_dns_state = 'verified' then s.private_dns_name end as private_dns, "
                            + "s.load_balancing, s.when_all_unhealthy "
                            + "from endpoints e join accounts ca on ca.seq = e.account_seq "
                            + "join services s on s.seq = e.service_seq join accounts pa on pa.seq = s.account_seq "
                            + "where e.state in ('pending', 'available') order by e.seq")
                    .map((rs, ctx) -> new Row(rs.getLong("seq"), rs.getString("id"), EndpointState.parse(rs.getString("state")),
                            rs.getString("consumer"), rs.getString("service_ref"), rs.getString("provider"),
                            rs.getLong("service_seq"), rs.getString("private_dns"),
                            LoadBalancing.of(rs.getString("load_balancing")).orElseThrow(),
                            WhenAllUnhealthy.of(rs.getString("when_all_unhealthy")).orElseThrow()))
                    .list();
            List<Listening> result = new ArrayList<>();
            for (Row r : rows) {
                Map<Integer, Integer> ports = new LinkedHashMap<>();
                h.createQuery("select service_port, gateway_port from endpoint_ports where endpoint_seq = :s")
                        .bind("s", r.seq()).map((rs, ctx) -> Map.entry(rs.getInt(1), rs.getInt(2)))
                        .forEach(e -> ports.put(e.getKey(), e.getValue()));
                List<String> names = r.privateDns() == null ? List.of(dnsName(r.id(), r.ref()))
                        : List.of(dnsName(r.id(), r.ref()), r.privateDns());
                Map<Integer, List<String>> targets = new LinkedHashMap<>();
                Map<Integer, HealthCheck> checks = new LinkedHashMap<>();
                for (Services.Listener l : Services.listeners(h, r.serviceSeq())) {
                    targets.put(l.port(), l.targets());
                    checks.put(l.port(), l.healthCheck());
                }
                result.add(new Listening(r.id(), r.state(), r.consumer(), r.ref(), r.provider(), targets, ports, names, checks,
                        r.balancing(), r.whenAllUnhealthy()));
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
        String lower = host.toLowerCase(java.util.Locale.ROOT);
        String name = lower.endsWith(".") ? lower.substring(0, lower.length() - 1) : lower;
        return jdbi.withHandle(h -> {
            record Found(String id, EndpointState state, String ref, Long serviceSeq) {
            }
            String sql = "select e.id, e.state, e.service_ref, e.service_seq from endpoints e join accounts a on a.seq = e.account_seq ";
            Found f;
            if (name.endsWith("." + domain) && name.startsWith("ep-")) {
                String id = name.substring(0, name.indexOf('.'));
                f = h.createQuery(sql + "where a.name = :a and e.id = :id and e.state <> 'deleted'")
                        .bind("a", account).bind("id", id)
                        .map((rs, ctx) -> new Found(rs.getString(1), EndpointState.parse(rs.getString(2)), rs.getString(3),
                                (Long) rs.getObject(4, Long.class)))
                        .findOne().filter(x -> dnsName(x.id(), x.ref()).equals(name)).orElse(null);
            } else {
                f = h.createQuery(sql + "join services s on s.seq = e.service_seq where a.name = :a and s.private_dns_name = :n "
                                + "and s.private_dns_state = 'verified' and e.state <> 'deleted' "
                                + "order by case when e.state = 'available' then 0 else 1 end, e.seq")
                        .bind("a", account).bind("n", name)
                        .map((rs, ctx) -> new Found(rs.getString(1), EndpointState.parse(rs.getString(2)), rs.getString(3),
                                (Long) rs.getObject(4, Long.class)))
                        .findFirst().orElse(null);
            }
            if (f == null) {
                return Optional.<String>empty();
            }
            if (f.state() != EndpointState.AVAILABLE) {
                return Optional.of("endpoint " + f.id() + " (" + f.ref() + ") is " + f.state() + ", not available");
            }
            List<Integer> ports = f.serviceSeq() == null ? List.of() : List.copyOf(Services.targets(h, f.serviceSeq()).keySet());
            if (ports.contains(port)) {
                return Optional.of("endpoint " + f.id() + " (" + f.ref() + ") port " + port + " is not open on the gateway yet; "
                        + "retry in a few seconds");
            }
            return Optional.of("endpoint " + f.id() + " (" + f.ref() + ") has no port " + port + " (its ports: " + ports + ")");
        });
    }

    /** Every gateway port held by an endpoint, so that allocation skips them. */
    public List<Integer> allocatedPorts() {
        return jdbi.withHandle(h -> h.createQuery("select gateway_port from endpoint_ports").mapTo(Integer.class).list());
    }

    /**
     * Records the gateway ports of an endpoint's listeners and, when it was pending, makes it
     * available. False when the endpoint left pending/available meanwhile (its listeners must close).
     */
    public boolean provisioned(String id, Map<Integer, Integer> ports) {
        return jdbi.inTransaction(h -> {
            Long seq = h.createQuery("select seq from endpoints where id = :id and state in ('pending', 'available')")
                    .bind("id", id).mapTo(Long.class).findOne().orElse(null);
            if (seq == null) {
                return false;
            }
            h.createUpdate("delete from endpoint_ports where endpoint_seq = :s").bind("s", seq).execute();
            for (Map.Entry<Integer, Integer> e : ports.entrySet()) {
                h.createUpdate("insert into endpoint_ports (endpoint_seq, service_port, gateway_port) values (:s, :sp, :gp)")
                        .bind("s", seq).bind("sp", e.getKey()).bind("gp", e.getValue()).execute();
            }
            String state = h.createQuery("select state from endpoints where seq = :s").bind("s", seq).mapTo(String.class).one();
            if (EndpointState.PENDING.text().equals(state)) {
                move(h, seq, id, Transition.PROVISIONED, GATEWAY, "listening on " + ports.size() + " port(s)");
            }
            return true;
        });
    }

    /** The gateway could not open the listeners of a pending endpoint. */
    public void provisioningFailed(String id, String reason) {
        jdbi.useTransaction(h -> h.createQuery("select seq from endpoints where id = :id and state = 'pending'").bind("id", id)
                .mapTo(Long.class).findOne()
                .ifPresent(seq -> move(h, seq, id, Transition.PROVISIONING_FAILED, GATEWAY, reason)));
    }

    /** Ids of endpoints being deleted, whose listeners the gateway must close. */
    public List<String> deleting() {
        return jdbi.withHandle(h -> h.createQuery("select id from endpoints where state = 'deleting' order by seq")
                .mapTo(String.class).list());
    }

    /** The gateway has closed a deleting endpoint's listeners: it is deleted. */
    public void released(String id) {
        jdbi.useTransaction(h -> h.createQuery("select seq from endpoints where id = :id and state = 'deleting'").bind("id", id)
                .mapTo(Long.class).findOne().ifPresent(seq -> move(h, seq, id, Transition.RELEASED, GATEWAY, "listeners closed")));
    }

    /** Expires connection requests older than {@code ttl}; returns how many. */
    public int expireRequests(Duration ttl) {
        Instant cutoff = clock.instant().minus(ttl);
        List<Map.Entry<Long, String>> old = jdbi.withHandle(h -> h.createQuery("select seq, id from endpoints "
                        + "where state = 'pendingAcceptance' and created_at < :c")
                .bind("c", Sql.at(cutoff)).map((rs, ctx) -> Map.entry(rs.getLong(1), rs.getString(2))).list());
        int expired = 0;
        for (Map.Entry<Long, String> e : old) {
            // One transaction per request: a move locks audit chain heads, which must not stay locked while this
            // waits for the next endpoint's row (a provider's decision on it may hold that row and want the heads).
            expired += jdbi.inTransaction(h -> {
                String state = h.createQuery("select state from endpoints where seq = :s").bind("s", e.getKey())
                        .mapTo(String.class).one();
                if (!EndpointState.PENDING_ACCEPTANCE.text().equals(state)) {
                    return 0; // decided meanwhile
                }
                try {
                    move(h, e.getKey(), e.getValue(), Transition.EXPIRE, GATEWAY,
                            "the provider did not decide within " + ttl.toString().substring(2).toLowerCase());
                    return 1;
                } catch (Refused raced) {
                    return 0; // decided between the read and the move
                }
            });
        }
        return expired;
    }
}
