package dev.underpass.controlplane.endpoint;

import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Sql;
import dev.underpass.controlplane.service.LoadBalancing;
import dev.underpass.controlplane.service.PrivateNameState;
import dev.underpass.controlplane.service.WhenAllUnhealthy;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.jdbi.v3.core.Handle;

/**
 * Every statement on the endpoint tables and the rows they read, in the caller's handle; what
 * the rows mean (who may see or move what) is {@link Endpoints}'.
 */
final class EndpointRows {
    private EndpointRows() {}

    /** An endpoint with the accounts of its consumer and, while its service exists, its provider. */
    record Parties(long seq, long consumer, String consumerAccount, Long provider, String ref) {}

    /** {@link Parties} by seq only. */
    record Sides(long consumer, Long provider, String ref) {}

    record Base(
            String id,
            String account,
            String ref,
            EndpointState state,
            String reason,
            Instant created,
            Instant updated,
            String dns,
            PrivateNameState dnsState) {}

    /** An endpoint the gateway listens for; {@code privateDns} only once verified. */
    record Listened(
            long seq,
            String id,
            EndpointState state,
            String consumer,
            String ref,
            String provider,
            long serviceSeq,
            String privateDns,
            LoadBalancing balancing,
            WhenAllUnhealthy whenAllUnhealthy) {}

    /** {@code serviceSeq} is null once the service is gone. */
    record Found(String id, EndpointState state, String ref, Long serviceSeq) {}

    record Request(long seq, String id) {}

    record Served(long serviceSeq, String provider) {}

    // ---- Services, as endpoints need them. ----

    static Optional<Long> serviceSeq(Handle h, String provider, String name) {
        return h.createQuery("select s.seq from services s join accounts a on a.seq = s.account_seq "
                        + "where a.name = :a and s.name = :n")
                .bind("a", provider)
                .bind("n", name)
                .mapTo(Long.class)
                .findOne();
    }

    /** Whether the service names {@code consumer}, or every account, among its principals. */
    static boolean names(Handle h, long serviceSeq, String consumer) {
        return h.createQuery("select count(*) from service_principals where service_seq = :s "
                                + "and (principal = :c or principal = '*')")
                        .bind("s", serviceSeq)
                        .bind("c", consumer)
                        .mapTo(Long.class)
                        .one()
                > 0;
    }

    static void lockService(Handle h, long serviceSeq) {
        h.createQuery("select seq from services where seq = :s for update")
                .bind("s", serviceSeq)
                .mapTo(Long.class)
                .one();
    }

    static boolean acceptanceRequired(Handle h, long serviceSeq) {
        return h.createQuery("select acceptance_required from services where seq = :s")
                .bind("s", serviceSeq)
                .mapTo(Boolean.class)
                .one();
    }

    static long serviceAccount(Handle h, long serviceSeq) {
        return h.createQuery("select account_seq from services where seq = :s")
                .bind("s", serviceSeq)
                .mapTo(Long.class)
                .one();
    }

    /** The service behind endpoint {@code id} and its provider's name; empty once the service is gone. */
    static Optional<Served> served(Handle h, String id) {
        return h.createQuery("select s.seq, a.name from endpoints e join services s on s.seq = e.service_seq "
                        + "join accounts a on a.seq = s.account_seq where e.id = :id")
                .bind("id", id)
                .map((rs, ctx) -> new Served(rs.getLong(1), rs.getString(2)))
                .findOne();
    }

    // ---- Endpoints. ----

    /** The id of the account's endpoint for the service that is not deleted, if any. */
    static Optional<String> live(Handle h, long accountSeq, long serviceSeq) {
        return h.createQuery("select id from endpoints where account_seq = :a and service_seq = :s "
                        + "and state <> 'deleted'")
                .bind("a", accountSeq)
                .bind("s", serviceSeq)
                .mapTo(String.class)
                .findFirst();
    }

    static long insert(
            Handle h,
            String id,
            long accountSeq,
            long serviceSeq,
            String ref,
            EndpointState state,
            String reason,
            Instant at) {
        return h.createUpdate("insert into endpoints (id, account_seq, service_seq, service_ref, state, state_reason, "
                        + "version, created_at, updated_at) values (:id, :a, :s, :ref, :st, :r, 0, :t, :t)")
                .bind("id", id)
                .bind("a", accountSeq)
                .bind("s", serviceSeq)
                .bind("ref", ref)
                .bind("st", state.text())
                .bind("r", reason)
                .bind("t", Sql.at(at))
                .executeAndReturnGeneratedKeys("seq")
                .mapTo(Long.class)
                .one();
    }

    /**
     * One page of the seqs of the account's endpoints ({@code provider}: of its services' endpoints),
     * in {@code state} or else all but deleted ones, of service {@code ref} when given.
     */
    static List<Long> page(
            Handle h, boolean provider, long accountSeq, EndpointState state, String ref, Page.Request page) {
        StringBuilder sql = new StringBuilder("select e.seq from endpoints e ");
        if (provider) {
            sql.append("join services s on s.seq = e.service_seq where s.account_seq = :a");
        } else {
            sql.append("where e.account_seq = :a");
        }
        sql.append(state == null ? " and e.state <> 'deleted'" : " and e.state = :st");
        if (ref != null) {
            sql.append(" and e.service_ref = :ref");
        }
        sql.append(" and e.seq > :after order by e.seq limit :n");
        return h.createQuery(sql.toString())
                .bind("a", accountSeq)
                .bind("st", state == null ? null : state.text())
                .bind("ref", ref)
                .bind("after", page.after())
                .bind("n", page.limit() + 1)
                .mapTo(Long.class)
                .list();
    }

    static Optional<Parties> parties(Handle h, String id) {
        return h.createQuery(
                        "select e.seq, e.account_seq, ca.name as consumer, e.service_ref, s.account_seq as provider_seq "
                                + "from endpoints e join accounts ca on ca.seq = e.account_seq "
                                + "left join services s on s.seq = e.service_seq where e.id = :id")
                .bind("id", id)
                .map((rs, ctx) -> new Parties(
                        rs.getLong("seq"),
                        rs.getLong("account_seq"),
                        rs.getString("consumer"),
                        rs.getObject("provider_seq", Long.class),
                        rs.getString("service_ref")))
                .findOne();
    }

    static Sides sides(Handle h, long seq) {
        return h.createQuery("select e.account_seq, s.account_seq as provider, e.service_ref from endpoints e "
                        + "left join services s on s.seq = e.service_seq where e.seq = :s")
                .bind("s", seq)
                .map((rs, ctx) -> new Sides(rs.getLong(1), rs.getObject(2, Long.class), rs.getString(3)))
                .one();
    }

    static Base base(Handle h, long seq) {
        return h.createQuery("select e.id, a.name as account, e.service_ref, e.state, e.state_reason, e.created_at, "
                        + "e.updated_at, s.private_dns_name, s.private_dns_state from endpoints e "
                        + "join accounts a on a.seq = e.account_seq left join services s on s.seq = e.service_seq "
                        + "where e.seq = :s")
                .bind("s", seq)
                .map((rs, ctx) -> new Base(
                        rs.getString("id"),
                        rs.getString("account"),
                        rs.getString("service_ref"),
                        EndpointState.parse(rs.getString("state")),
                        rs.getString("state_reason"),
                        Sql.instant(rs, "created_at"),
                        Sql.instant(rs, "updated_at"),
                        rs.getString("private_dns_name"),
                        Optional.ofNullable(rs.getString("private_dns_state"))
                                .map(PrivateNameState::parse)
                                .orElse(null)))
                .one();
    }

    static EndpointState state(Handle h, long seq) {
        return EndpointState.parse(h.createQuery("select state from endpoints where seq = :s")
                .bind("s", seq)
                .mapTo(String.class)
                .one());
    }

    /** The seq of endpoint {@code id} while it is in one of {@code states}. */
    static Optional<Long> seqIn(Handle h, String id, EndpointState... states) {
        return h.createQuery("select seq from endpoints where id = :id and state in (<states>)")
                .bind("id", id)
                .bindList("states", Stream.of(states).map(EndpointState::text).toList())
                .mapTo(Long.class)
                .findOne();
    }

    /** As {@link #seqIn}, locking the endpoint's row until the transaction ends. */
    static Optional<Long> lockIn(Handle h, String id, EndpointState... states) {
        return h.createQuery("select seq from endpoints where id = :id and state in (<states>) for update")
                .bind("id", id)
                .bindList("states", Stream.of(states).map(EndpointState::text).toList())
                .mapTo(Long.class)
                .findOne();
    }

    /** Moves endpoint {@code seq} from {@code from} to {@code to}; false when it is no longer in {@code from}. */
    static boolean compareAndSet(Handle h, long seq, EndpointState from, EndpointState to, String reason, Instant at) {
        return h.createUpdate(
                                "update endpoints set state = :to, state_reason = :r, version = version + 1, updated_at = :t "
                                        + "where seq = :s and state = :from")
                        .bind("to", to.text())
                        .bind("r", reason)
                        .bind("t", Sql.at(at))
                        .bind("s", seq)
                        .bind("from", from.text())
                        .execute()
                > 0;
    }

    /** Ids of the endpoints in {@code state}, oldest first. */
    static List<String> idsIn(Handle h, EndpointState state) {
        return h.createQuery("select id from endpoints where state = :st order by seq")
                .bind("st", state.text())
                .mapTo(String.class)
                .list();
    }

    /** Connection requests created before {@code cutoff}. */
    static List<Request> requestsBefore(Handle h, Instant cutoff) {
        return h.createQuery("select seq, id from endpoints where state = 'pendingAcceptance' and created_at < :c")
                .bind("c", Sql.at(cutoff))
                .map((rs, ctx) -> new Request(rs.getLong(1), rs.getString(2)))
                .list();
    }

    static List<Listened> listened(Handle h) {
        return h.createQuery("select e.seq, e.id, e.state, ca.name as consumer, e.service_ref, pa.name as provider, "
                        + "e.service_seq, case when s.private_dns_state = 'verified' then s.private_dns_name end as private_dns, "
                        + "s.load_balancing, s.when_all_unhealthy "
                        + "from endpoints e join accounts ca on ca.seq = e.account_seq "
                        + "join services s on s.seq = e.service_seq join accounts pa on pa.seq = s.account_seq "
                        + "where e.state in ('pending', 'available') order by e.seq")
                .map((rs, ctx) -> new Listened(
                        rs.getLong("seq"),
                        rs.getString("id"),
                        EndpointState.parse(rs.getString("state")),
                        rs.getString("consumer"),
                        rs.getString("service_ref"),
                        rs.getString("provider"),
                        rs.getLong("service_seq"),
                        rs.getString("private_dns"),
                        LoadBalancing.of(rs.getString("load_balancing")).orElseThrow(),
                        WhenAllUnhealthy.of(rs.getString("when_all_unhealthy")).orElseThrow()))
                .list();
    }

    private static final String FOUND = "select e.id, e.state, e.service_ref, e.service_seq from endpoints e "
            + "join accounts a on a.seq = e.account_seq ";

    /** The account's endpoint {@code id} unless deleted. */
    static Optional<Found> found(Handle h, String account, String id) {
        return h.createQuery(FOUND + "where a.name = :a and e.id = :id and e.state <> 'deleted'")
                .bind("a", account)
                .bind("id", id)
                .map((rs, ctx) -> found(rs.getString(1), rs.getString(2), rs.getString(3), rs.getObject(4, Long.class)))
                .findOne();
    }

    /** The account's endpoint reached by verified private name {@code name}, an available one first. */
    static Optional<Found> foundByPrivateName(Handle h, String account, String name) {
        return h.createQuery(FOUND
                        + "join services s on s.seq = e.service_seq where a.name = :a and s.private_dns_name = :n "
                        + "and s.private_dns_state = 'verified' and e.state <> 'deleted' "
                        + "order by case when e.state = 'available' then 0 else 1 end, e.seq")
                .bind("a", account)
                .bind("n", name)
                .map((rs, ctx) -> found(rs.getString(1), rs.getString(2), rs.getString(3), rs.getObject(4, Long.class)))
                .findFirst();
    }

    private static Found found(String id, String state, String ref, Long serviceSeq) {
        return new Found(id, EndpointState.parse(state), ref, serviceSeq);
    }

    // ---- Events and ports. ----

    static void event(
            Handle h, long seq, EndpointState from, EndpointState to, String actor, String reason, Instant at) {
        h.createUpdate("insert into endpoint_events (endpoint_seq, at, from_state, to_state, actor, reason) "
                        + "values (:e, :at, :f, :to, :actor, :r)")
                .bind("e", seq)
                .bind("at", Sql.at(at))
                .bind("f", from == null ? null : from.text())
                .bind("to", to.text())
                .bind("actor", actor)
                .bind("r", reason)
                .execute();
    }

    /** The endpoint's moves, oldest first, with the actors as recorded. */
    static List<Endpoints.Event> events(Handle h, long seq) {
        return h.createQuery("select at, from_state, to_state, actor, reason from endpoint_events "
                        + "where endpoint_seq = :s order by seq")
                .bind("s", seq)
                .map((rs, ctx) -> new Endpoints.Event(
                        Sql.instant(rs, "at"),
                        rs.getString("from_state") == null ? null : EndpointState.parse(rs.getString("from_state")),
                        EndpointState.parse(rs.getString("to_state")),
                        rs.getString("actor"),
                        rs.getString("reason")))
                .list();
    }

    /** The endpoint's gateway port per service port, by service port. */
    static Map<Integer, Integer> ports(Handle h, long seq) {
        Map<Integer, Integer> ports = new LinkedHashMap<>();
        h.createQuery(
                        "select service_port, gateway_port from endpoint_ports where endpoint_seq = :s order by service_port")
                .bind("s", seq)
                .map((rs, ctx) -> Map.entry(rs.getInt(1), rs.getInt(2)))
                .forEach(e -> ports.put(e.getKey(), e.getValue()));
        return ports;
    }

    static void replacePorts(Handle h, long seq, Map<Integer, Integer> ports) {
        releasePorts(h, seq);
        for (Map.Entry<Integer, Integer> e : ports.entrySet()) {
            h.createUpdate(
                            "insert into endpoint_ports (endpoint_seq, service_port, gateway_port) values (:s, :sp, :gp)")
                    .bind("s", seq)
                    .bind("sp", e.getKey())
                    .bind("gp", e.getValue())
                    .execute();
        }
    }

    static void releasePorts(Handle h, long seq) {
        h.createUpdate("delete from endpoint_ports where endpoint_seq = :s")
                .bind("s", seq)
                .execute();
    }

    static List<Integer> allocatedPorts(Handle h) {
        return h.createQuery("select gateway_port from endpoint_ports")
                .mapTo(Integer.class)
                .list();
    }
}
