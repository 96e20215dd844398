package dev.underpass.controlplane.service;

import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.core.Sql;
import dev.underpass.controlplane.service.Services.Listener;
import dev.underpass.controlplane.service.Services.PrivateDnsName;
import dev.underpass.controlplane.service.Services.View;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/**
 * Every statement on the service tables and the rows they read, in the caller's handle; what the
 * rows mean (who may see or change what) is {@link Services}'. Public for the two reads the
 * endpoints make of a service's listeners.
 */
public final class ServiceRows {
    /** The TXT value that proves ownership of a private DNS name is this followed by the service's token. */
    static final String VERIFICATION_PREFIX = "underpass-verification=";

    private static final String LISTENER_COLUMNS = "l.protocol, l.port, l.targets, l.health_protocol, l.health_path, "
            + "l.health_matcher, l.health_interval_seconds, l.health_timeout_seconds, l.health_healthy_threshold, "
            + "l.health_unhealthy_threshold";

    private ServiceRows() {}

    /** One listener of a service, as the rows of an account's checks hold it. */
    record ServiceListener(String service, Listener listener) {}

    /** One page of the seqs of account {@code accountSeq}'s services. */
    static List<Long> page(Handle h, long accountSeq, Page.Request page) {
        return h.createQuery(
                        "select seq from services where account_seq = :a and seq > :after " + "order by seq limit :n")
                .bind("a", accountSeq)
                .bind("after", page.after())
                .bind("n", page.limit() + 1)
                .mapTo(Long.class)
                .list();
    }

    /** One page of the seqs of other accounts' services that {@code p}'s account may connect to. */
    static List<Long> offers(Handle h, Principal p, Page.Request page) {
        return h.createQuery("select distinct s.seq from services s join service_principals sp "
                        + "on sp.service_seq = s.seq where s.account_seq <> :a and (sp.principal = :name or sp.principal = '*') "
                        + "and s.seq > :after order by s.seq limit :n")
                .bind("a", p.accountSeq())
                .bind("name", p.account())
                .bind("after", page.after())
                .bind("n", page.limit() + 1)
                .mapTo(Long.class)
                .list();
    }

    static Long findSeq(Handle h, long accountSeq, String name) {
        return h.createQuery("select seq from services where account_seq = :a and name = :n")
                .bind("a", accountSeq)
                .bind("n", name)
                .mapTo(Long.class)
                .findOne()
                .orElse(null);
    }

    static long requireSeq(Handle h, Principal p, String name) {
        Long seq = findSeq(h, p.accountSeq(), name);
        if (seq == null) {
            throw Refused.notFound("service '" + name + "'");
        }
        return seq;
    }

    /** Inserts a service's own row, without listeners, principals or private DNS name; its seq. */
    static long insert(
            Handle h,
            long accountSeq,
            String name,
            String description,
            boolean acceptanceRequired,
            LoadBalancing balancing,
            WhenAllUnhealthy whenAllUnhealthy,
            Instant now) {
        return h.createUpdate("insert into services (account_seq, name, description, acceptance_required, "
                        + "load_balancing, when_all_unhealthy, created_at, updated_at) "
                        + "values (:a, :n, :d, :acc, :lb, :wau, :t, :t)")
                .bind("a", accountSeq)
                .bind("n", name)
                .bind("d", description)
                .bind("acc", acceptanceRequired)
                .bind("lb", balancing.text())
                .bind("wau", whenAllUnhealthy.text())
                .bind("t", Sql.at(now))
                .executeAndReturnGeneratedKeys("seq")
                .mapTo(Long.class)
                .one();
    }

    /** Sets the fields of service {@code seq}'s own row that an update may change. */
    static void update(
            Handle h,
            long seq,
            String description,
            boolean acceptanceRequired,
            LoadBalancing balancing,
            WhenAllUnhealthy whenAllUnhealthy,
            Instant now) {
        h.createUpdate("update services set description = :d, acceptance_required = :acc, load_balancing = :lb, "
                        + "when_all_unhealthy = :wau, updated_at = :t where seq = :s")
                .bind("d", description)
                .bind("acc", acceptanceRequired)
                .bind("lb", balancing.text())
                .bind("wau", whenAllUnhealthy.text())
                .bind("t", Sql.at(now))
                .bind("s", seq)
                .execute();
    }

    static void replaceListeners(Handle h, long seq, List<Listener> listeners) {
        h.createUpdate("delete from service_listeners where service_seq = :s")
                .bind("s", seq)
                .execute();
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

    static void replacePrincipals(Handle h, long seq, List<String> principals) {
        h.createUpdate("delete from service_principals where service_seq = :s")
                .bind("s", seq)
                .execute();
        for (String a : principals) {
            h.createUpdate("insert into service_principals (service_seq, principal) values (:s, :p)")
                    .bind("s", seq)
                    .bind("p", a)
                    .execute();
        }
    }

    /** Sets (or with null removes) the private DNS name, with a new verification token; it awaits verification. */
    static void writeDns(Handle h, long seq, String dns) {
        h.createUpdate("update services set private_dns_name = :n, private_dns_state = :st, private_dns_token = :tok "
                        + "where seq = :s")
                .bind("n", dns)
                .bind("st", dns == null ? null : PrivateNameState.PENDING_VERIFICATION.text())
                .bind("tok", dns == null ? null : Secrets.id("", 32))
                .bind("s", seq)
                .execute();
    }

    /**
     * Records a verification's outcome if service {@code seq} still has the name and value that
     * were checked; whether it did.
     */
    static boolean setDnsState(
            Handle h, long seq, String dnsName, String verificationValue, PrivateNameState state, Instant now) {
        return h.createUpdate("update services set private_dns_state = :st, updated_at = :t "
                                + "where seq = :s and private_dns_name = :n and private_dns_token = :tok")
                        .bind("st", state.text())
                        .bind("t", Sql.at(now))
                        .bind("s", seq)
                        .bind("n", dnsName)
                        .bind("tok", verificationValue.substring(VERIFICATION_PREFIX.length()))
                        .execute()
                > 0;
    }

    /** Locks service {@code seq}'s row as endpoint creation does, so that no endpoint appears meanwhile. */
    static void lock(Handle h, long seq) {
        h.createQuery("select seq from services where seq = :s for update")
                .bind("s", seq)
                .mapTo(Long.class)
                .one();
    }

    /** How many endpoints use service {@code seq}: requested, pending or available. */
    static long liveEndpoints(Handle h, long seq) {
        return h.createQuery("select count(*) from endpoints where service_seq = :s and state in "
                        + "('pendingAcceptance', 'pending', 'available')")
                .bind("s", seq)
                .mapTo(Long.class)
                .one();
    }

    static void delete(Handle h, long seq) {
        h.createUpdate("delete from services where seq = :s").bind("s", seq).execute();
    }

    /** The TXT record a provider publishes to prove it owns {@code name}. */
    static String verificationRecord(String name) {
        return "_underpass-verification." + name;
    }

    /** Service {@code seq}; its verification value only for its own account ({@code accountName} not null). */
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
                        PrivateNameState.parse(b.dnsState()),
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

    /** The listeners of service {@code seq}, in order of port, with their health checks. */
    public static List<Listener> listeners(Handle h, long seq) {
        return h.createQuery("select " + LISTENER_COLUMNS
                        + " from service_listeners l where l.service_seq = :s order by l.port")
                .bind("s", seq)
                .map((rs, ctx) -> listener(rs))
                .list();
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

    /** Every listener of every service of account {@code accountName}, by service name and port. */
    static List<ServiceListener> listenersOf(Handle h, String accountName) {
        return h.createQuery("select s.name as service, " + LISTENER_COLUMNS
                        + " from services s join accounts a on a.seq = s.account_seq "
                        + "join service_listeners l on l.service_seq = s.seq where a.name = :a order by s.name, l.port")
                .bind("a", accountName)
                .map((rs, ctx) -> new ServiceListener(rs.getString("service"), listener(rs)))
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
}
