package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.core.Names;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import dev.underpass.protocol.HostAndPort;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

/**
 * Endpoint services: what a provider account publishes. Consumers name a service as
 * {@code provider/name}; who may connect is decided by the allowed principals when an endpoint
 * is created, so removing a principal affects new endpoints only.
 */
public final class Services {
    public static final String ANY_ACCOUNT = "*";
    /** The TXT value that proves ownership of a private DNS name is this followed by the service's token. */
    static final String VERIFICATION_PREFIX = "underpass-verification=";

    static final int MAX_LISTENERS = 16;
    static final int MAX_TARGETS = 16;
    static final int MAX_PRINCIPALS = 256;

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
    public record PrivateDnsName(String name, String state, String verificationRecord, String verificationValue) {}

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
        return jdbi.withHandle(h -> {
            List<Long> seqs = h.createQuery("select seq from services where account_seq = :a and seq > :after "
                            + "order by seq limit :n")
                    .bind("a", p.accountSeq())
                    .bind("after", page.after())
                    .bind("n", page.limit() + 1)
                    .mapTo(Long.class)
                    .list();
            Page<Long> keys = Page.of(seqs, page, s -> s);
            return keys.map(seq -> load(h, seq, p.account()));
        });
    }

    /** Services of other accounts that the caller's account may connect to. */
    public Page<Offer> offers(Principal p, Page.Request page) {
        p.require(Scope.SERVICES_READ);
        return jdbi.withHandle(h -> {
            List<Long> seqs = h.createQuery("select distinct s.seq from services s join service_principals sp "
                            + "on sp.service_seq = s.seq where s.account_seq <> :a and (sp.principal = :name or sp.principal = '*') "
                            + "and s.seq > :after order by s.seq limit :n")
                    .bind("a", p.accountSeq())
                    .bind("name", p.account())
                    .bind("after", page.after())
                    .bind("n", page.limit() + 1)
                    .mapTo(Long.class)
                    .list();
            return Page.of(seqs, page, seq -> seq).map(seq -> {
                View v = load(h, seq, null);
                PrivateDnsName dns = v.privateDns();
                return new Offer(
                        v.reference(),
                        v.description(),
                        v.listeners().stream().map(Listener::port).toList(),
                        v.acceptanceRequired(),
                        dns != null && "verified".equals(dns.state()) ? dns.name() : null);
            });
        });
    }

    public View get(Principal p, String name) {
        p.require(Scope.SERVICES_READ);
        return jdbi.withHandle(h -> load(h, requireSeq(h, p, name), p.account()));
    }

    public View create(Principal p, CreateRequest r) {
        p.require(Scope.SERVICES_WRITE);
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
        Instant now = clock.instant();
        View v = jdbi.inTransaction(h -> {
            if (findSeq(h, p.accountSeq(), r.name()) != null) {
                throw Refused.conflict("service '" + r.name() + "' already exists in account " + p.account()
                        + " (expected: a new name, or 'underpass service update')");
            }
            long seq = h.createUpdate("insert into services (account_seq, name, description, acceptance_required, "
                            + "load_balancing, when_all_unhealthy, created_at, updated_at) "
                            + "values (:a, :n, :d, :acc, :lb, :wau, :t, :t)")
                    .bind("a", p.accountSeq())
                    .bind("n", r.name())
                    .bind("d", r.description() == null ? "" : r.description())
                    .bind("acc", r.acceptanceRequired() == null || r.acceptanceRequired())
                    .bind("lb", balancing.text())
                    .bind("wau", whenAllUnhealthy.text())
                    .bind("t", Sql.at(now))
                    .executeAndReturnGeneratedKeys("seq")
                    .mapTo(Long.class)
                    .one();
            writeListeners(h, seq, listeners);
            writePrincipals(h, seq, principals);
            writeDns(h, seq, dns);
            View created = load(h, seq, p.account());
            audit.record(h, p, "service.create", "service:" + created.reference(), auditDetails(created, null));
            return created;
        });
        changed.run();
        return v;
    }

    public View update(Principal p, String name, UpdateRequest r) {
        p.require(Scope.SERVICES_WRITE);
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
        View v = jdbi.inTransaction(h -> {
            long seq = requireSeq(h, p, name);
            View before = load(h, seq, p.account());
            h.createUpdate("update services set description = :d, acceptance_required = :acc, load_balancing = :lb, "
                            + "when_all_unhealthy = :wau, updated_at = :t where seq = :s")
                    .bind("d", r.description() != null ? r.description() : before.description())
                    .bind("acc", r.acceptanceRequired() != null ? r.acceptanceRequired() : before.acceptanceRequired())
                    .bind("lb", (balancing != null ? balancing : before.loadBalancing()).text())
                    .bind("wau", (whenAllUnhealthy != null ? whenAllUnhealthy : before.whenAllUnhealthy()).text())
                    .bind("t", Sql.at(clock.instant()))
                    .bind("s", seq)
                    .execute();
            if (listeners != null) {
                h.createUpdate("delete from service_listeners where service_seq = :s")
                        .bind("s", seq)
                        .execute();
                writeListeners(h, seq, listeners);
            }
            if (principals != null) {
                h.createUpdate("delete from service_principals where service_seq = :s")
                        .bind("s", seq)
                        .execute();
                writePrincipals(h, seq, principals);
            }
            String oldDns =
                    before.privateDns() == null ? null : before.privateDns().name();
            if (r.privateDnsName() != null && !java.util.Objects.equals(dns, oldDns)) {
                writeDns(h, seq, dns);
            }
            View after = load(h, seq, p.account());
            audit.record(h, p, "service.update", "service:" + after.reference(), auditDetails(after, changedFields(r)));
            return after;
        });
        changed.run();
        return v;
    }

    /** Deletes a service that no endpoint uses any more (requests, pending or available ones). */
    public void delete(Principal p, String name) {
        p.require(Scope.SERVICES_WRITE);
        jdbi.useTransaction(h -> {
            long seq = requireSeq(h, p, name);
            // Locked like endpoint creation locks it, so that no endpoint appears between the count and the delete.
            h.createQuery("select seq from services where seq = :s for update")
                    .bind("s", seq)
                    .mapTo(Long.class)
                    .one();
            long live = h.createQuery("select count(*) from endpoints where service_seq = :s and state in "
                            + "('pendingAcceptance', 'pending', 'available')")
                    .bind("s", seq)
                    .mapTo(Long.class)
                    .one();
            if (live > 0) {
                throw Refused.conflict("service '" + name + "' still has " + live + " endpoint(s) requested, pending "
                        + "or available (expected: reject them first with 'underpass endpoint reject')");
            }
            h.createUpdate("delete from services where seq = :s").bind("s", seq).execute();
            audit.record(h, p, "service.delete", "service:" + p.account() + "/" + name, Map.of());
        });
        changed.run();
    }

    /**
     * Records the outcome of a private DNS verification, if the service still has the name and
     * verification value that were checked (the provider may have changed them meanwhile).
     */
    void setDnsState(Principal p, String name, String dnsName, String verificationValue, String state, String detail) {
        int n = jdbi.inTransaction(h -> {
            int updated = h.createUpdate("update services set private_dns_state = :st, updated_at = :t "
                            + "where seq = :s and private_dns_name = :n and private_dns_token = :tok")
                    .bind("st", state)
                    .bind("t", Sql.at(clock.instant()))
                    .bind("s", requireSeq(h, p, name))
                    .bind("n", dnsName)
                    .bind("tok", verificationValue.substring(VERIFICATION_PREFIX.length()))
                    .execute();
            if (updated > 0) {
                audit.record(
                        h,
                        p.accountSeq(),
                        p.actor(),
                        "service.verifyDns",
                        "service:" + p.account() + "/" + name,
                        "verified".equals(state) ? AuditLog.OK : "failed: " + detail,
                        Map.of("privateDnsName", dnsName, "state", state));
            }
            return updated;
        });
        if (n == 0) {
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

    private static List<String> changedFields(UpdateRequest r) {
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
            if (!ANY_ACCOUNT.equals(a) && !Names.valid(a)) {
                errors.add("allowedPrincipals[" + i + "]: '" + a
                        + "' (expected: an account name, or * for every account)");
            }
        }
        return List.copyOf(new java.util.LinkedHashSet<>(principals));
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

    private static void writeListeners(Handle h, long seq, List<Listener> listeners) {
        for (Listener l : listeners) {
            HealthCheck c = l.healthCheck();
            h.createUpdate(
                            "insert into service_listeners (service_seq, protocol, port, targets, health_protocol, health_path, "
                                    + "health_matcher, health_interval_seconds, health_timeout_seconds, health_healthy_threshold, "
                                    + "health_unhealthy_threshold) values (:s, :pr, :p, :t, :hp, :path, :m, :i, :to, :ht, :ut)")
                    .bind("s", seq)
                    .bind("pr", l.protocol())
                    .bind("p", l.port())
                    .bind("t", String.join("\n", l.targets()))
                    .bind("hp", c.protocol())
                    .bind("path", c.path())
                    .bind("m", c.matcher())
                    .bind("i", c.intervalSeconds())
                    .bind("to", c.timeoutSeconds())
                    .bind("ht", c.healthyThreshold())
                    .bind("ut", c.unhealthyThreshold())
                    .execute();
        }
    }

    private static void writePrincipals(Handle h, long seq, List<String> principals) {
        for (String a : principals) {
            h.createUpdate("insert into service_principals (service_seq, principal) values (:s, :p)")
                    .bind("s", seq)
                    .bind("p", a)
                    .execute();
        }
    }

    private static void writeDns(Handle h, long seq, String dns) {
        h.createUpdate("update services set private_dns_name = :n, private_dns_state = :st, private_dns_token = :tok "
                        + "where seq = :s")
                .bind("n", dns)
                .bind("st", dns == null ? null : "pendingVerification")
                .bind("tok", dns == null ? null : Secrets.id("", 32))
                .bind("s", seq)
                .execute();
    }

    static Long findSeq(Handle h, long accountSeq, String name) {
        return h.createQuery("select seq from services where account_seq = :a and name = :n")
                .bind("a", accountSeq)
                .bind("n", name)
                .mapTo(Long.class)
                .findOne()
                .orElse(null);
    }

    private static long requireSeq(Handle h, Principal p, String name) {
        Long seq = findSeq(h, p.accountSeq(), name);
        if (seq == null) {
            throw Refused.notFound("service '" + name + "'");
        }
        return seq;
    }

    /** The TXT record a provider publishes to prove it owns {@code name}. */
    static String verificationRecord(String name) {
        return "_underpass-verification." + name;
    }

    static View load(Handle h, long seq, String accountName) {
        record Base(
                String name,
                String account,
                String description,
                boolean acceptance,
                LoadBalancing balancing,
                WhenAllUnhealthy whenAllUnhealthy,
                String dns,
                String dnsState,
                String token,
                Instant created,
                Instant updated) {}
        Base b = h.createQuery(
                        "select s.name, a.name as account, s.description, s.acceptance_required, s.load_balancing, "
                                + "s.when_all_unhealthy, s.private_dns_name, s.private_dns_state, s.private_dns_token, s.created_at, "
                                + "s.updated_at from services s join accounts a on a.seq = s.account_seq where s.seq = :s")
                .bind("s", seq)
                .map((rs, ctx) -> new Base(
                        rs.getString("name"),
                        rs.getString("account"),
                        rs.getString("description"),
                        rs.getBoolean("acceptance_required"),
                        LoadBalancing.of(rs.getString("load_balancing")).orElseThrow(),
                        WhenAllUnhealthy.of(rs.getString("when_all_unhealthy")).orElseThrow(),
                        rs.getString("private_dns_name"),
                        rs.getString("private_dns_state"),
                        rs.getString("private_dns_token"),
                        Sql.instant(rs, "created_at"),
                        Sql.instant(rs, "updated_at")))
                .one();
        List<Listener> listeners = listeners(h, seq);
        List<String> principals = h.createQuery(
                        "select principal from service_principals where service_seq = :s " + "order by principal")
                .bind("s", seq)
                .mapTo(String.class)
                .list();
        PrivateDnsName dns = b.dns() == null
                ? null
                : new PrivateDnsName(
                        b.dns(),
                        b.dnsState(),
                        verificationRecord(b.dns()),
                        accountName != null ? VERIFICATION_PREFIX + b.token() : null);
        return new View(
                b.name(),
                b.account() + "/" + b.name(),
                b.description(),
                listeners,
                principals,
                b.acceptance(),
                b.balancing(),
                b.whenAllUnhealthy(),
                dns,
                b.created(),
                b.updated());
    }

    private static final String LISTENER_COLUMNS = "l.protocol, l.port, l.targets, l.health_protocol, l.health_path, "
            + "l.health_matcher, l.health_interval_seconds, l.health_timeout_seconds, l.health_healthy_threshold, "
            + "l.health_unhealthy_threshold";

    /** The listeners of service {@code seq}, in order of port, with their health checks. */
    public static List<Listener> listeners(Handle h, long seq) {
        return h.createQuery("select " + LISTENER_COLUMNS
                        + " from service_listeners l where l.service_seq = :s order by l.port")
                .bind("s", seq)
                .map((rs, ctx) -> listener(rs))
                .list();
    }

    private static Listener listener(ResultSet rs) throws SQLException {
        HealthCheck check = new HealthCheck(
                rs.getString("health_protocol"),
                rs.getString("health_path"),
                rs.getString("health_matcher"),
                rs.getInt("health_interval_seconds"),
                rs.getInt("health_timeout_seconds"),
                rs.getInt("health_healthy_threshold"),
                rs.getInt("health_unhealthy_threshold"));
        return new Listener(
                rs.getString("protocol"),
                rs.getInt("port"),
                List.of(rs.getString("targets").split("\n")),
                check);
    }

    /**
     * Every target of every listener of {@code accountName}'s services, with its check: what the
     * account's agents must check. A target listed twice in a listener is checked once.
     */
    public List<TargetCheck> healthChecks(String accountName) {
        record Row(String service, Listener listener) {}
        List<Row> rows = jdbi.withHandle(h -> h.createQuery("select s.name as service, " + LISTENER_COLUMNS
                        + " from services s join accounts a on a.seq = s.account_seq "
                        + "join service_listeners l on l.service_seq = s.seq where a.name = :a order by s.name, l.port")
                .bind("a", accountName)
                .map((rs, ctx) -> new Row(rs.getString("service"), listener(rs)))
                .list());
        List<TargetCheck> checks = new ArrayList<>();
        for (Row r : rows) {
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

    /** The targets of each listener port of service {@code seq}, for the data plane. */
    public static Map<Integer, List<String>> targets(Handle h, long seq) {
        Map<Integer, List<String>> m = new LinkedHashMap<>();
        h.createQuery("select port, targets from service_listeners where service_seq = :s order by port")
                .bind("s", seq)
                .map((rs, ctx) -> Map.entry(
                        rs.getInt("port"), List.of(rs.getString("targets").split("\n"))))
                .forEach(e -> m.put(e.getKey(), e.getValue()));
        return m;
    }
}
