package dev.underpass.controlplane;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;

import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.endpoint.EndpointState.Transition;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.tenancy.Users;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Two callers at the same moment, on both databases. A provider's accept and reject of the same
 * connection request end in one outcome that the successful calls explain, the losing call gets a
 * 409, and the history is a legal path with one decision on the request. Rules that span rows
 * hold too: one endpoint per service and consumer, at least one owner per account.
 */
class ConcurrentChangesTest {
    static final int ENDPOINTS = 50;
    static final int ROUNDS = 25;

    @TempDir
    static Path dir;

    static Databases databases;

    @BeforeAll
    static void start() throws Exception {
        databases = Databases.start(dir);
    }

    @AfterAll
    static void stop() throws Exception {
        databases.close();
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void acceptAndRejectAtOnceResolveToOneOutcome(Db db) throws Exception {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            Principal provider = f.as(f.account("acme"));
            Principal consumer = f.as(f.account("globex"));
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < ENDPOINTS; i++) {
                f.service(provider, "svc-" + i, true, "globex");
                ids.add(f.cp.endpoints()
                        .create(consumer, new Endpoints.CreateRequest("acme/svc-" + i))
                        .id());
            }
            int bothMoved = 0;
            int raced = 0; // refused because the other call changed the endpoint between read and update
            for (int i = 0; i < ENDPOINTS; i++) {
                String id = ids.get(i);
                List<Throwable> outcomes = Race.of(
                        () -> f.cp.endpoints().accept(provider, id, new Endpoints.DecisionRequest("accept-call")),
                        () -> f.cp.endpoints().reject(provider, id, new Endpoints.DecisionRequest("reject-call")));
                for (Throwable t : outcomes) {
                    if (t != null) {
                        assertThat(t)
                                .as("endpoint %d: only a 409 may refuse a call", i)
                                .isInstanceOf(Refused.class);
                        Refused refused = (Refused) t;
                        assertThat(status(refused)).as(refused.getMessage()).isEqualTo(409);
                        assertThat(refused.getMessage()).contains("endpoint " + id);
                        raced += refused.getMessage().contains("changed meanwhile") ? 1 : 0;
                    }
                }
                boolean accepted = outcomes.get(0) == null;
                boolean rejected = outcomes.get(1) == null;
                assertThat(accepted || rejected)
                        .as("endpoint %d: one of the two calls wins", i)
                        .isTrue();

                Endpoints.View v = f.cp.endpoints().get(consumer, id);
                List<Endpoints.Event> events = v.events();
                assertLegalPath(events);
                List<String> decisions =
                        events.stream().skip(1).map(Endpoints.Event::reason).toList();
                if (accepted && rejected) {
                    // Accepted first, then rejected from pending: the only order in which both can succeed.
                    bothMoved++;
                    assertThat(decisions).containsExactly("accept-call", "reject-call");
                    assertThat(v.state()).isEqualTo(EndpointState.REJECTED);
                } else if (accepted) {
                    assertThat(decisions).containsExactly("accept-call");
                    assertThat(v.state()).isEqualTo(EndpointState.PENDING);
                } else {
                    assertThat(decisions).containsExactly("reject-call");
                    assertThat(v.state()).isEqualTo(EndpointState.REJECTED);
                }
            }
            // No request holds two decisions, whatever the views show.
            List<Long> twice = f.store
                    .jdbi()
                    .withHandle(h -> h.createQuery(
                                    "select endpoint_seq from endpoint_events "
                                            + "where from_state = 'pendingAcceptance' group by endpoint_seq having count(*) > 1")
                            .mapTo(Long.class)
                            .list());
            assertThat(twice).isEmpty();
            System.out.printf(
                    "%s: %d of %d pairs both succeeded (accept, then reject), %d lost a race between read and update%n",
                    db, bothMoved, ENDPOINTS, raced);
        }
    }

    /** A creation, then moves each allowed from the state before it. */
    static void assertLegalPath(List<Endpoints.Event> events) {
        assertThat(events).isNotEmpty();
        assertThat(events.getFirst().from()).isNull();
        assertThat(events.getFirst().to()).isEqualTo(EndpointState.PENDING_ACCEPTANCE);
        for (int i = 1; i < events.size(); i++) {
            Endpoints.Event e = events.get(i);
            assertThat(e.from())
                    .as("event %d starts where the last ended", i)
                    .isEqualTo(events.get(i - 1).to());
            boolean legal = false;
            for (Transition t : Transition.values()) {
                legal |= e.from().after(t) == e.to();
            }
            assertThat(legal)
                    .as("%s -> %s is a move of the table", e.from(), e.to())
                    .isTrue();
        }
    }

    static void assertOneWonAndOneGot409(List<Throwable> outcomes, String what) {
        assertThat(outcomes).as(what).filteredOn(t -> t == null).hasSize(1);
        Throwable lost = outcomes.stream().filter(t -> t != null).findFirst().orElseThrow();
        assertThat(lost)
                .as(what)
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(409));
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void twoRequestsForOneServiceAtOnceMakeOneEndpoint(Db db) throws Exception {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            Principal provider = f.as(f.account("acme"));
            Principal consumer = f.as(f.account("globex"));
            for (int i = 0; i < ROUNDS; i++) {
                String ref = "acme/"
                        + f.service(provider, "svc-" + i, true, "globex").name();
                var request = new Endpoints.CreateRequest(ref);
                List<Throwable> outcomes = Race.of(
                        () -> f.cp.endpoints().create(consumer, request),
                        () -> f.cp.endpoints().create(consumer, request));
                var live = f.cp.endpoints().list(consumer, new Endpoints.Filter(null, null, ref), Page.Request.first());
                assertThat(live.items()).as("endpoints for %s", ref).hasSize(1);
                assertOneWonAndOneGot409(outcomes, ref);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void twoOwnersDemotingEachOtherAtOnceLeaveAnOwner(Db db) throws Exception {
        try (ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db))) {
            for (int i = 0; i < ROUNDS; i++) {
                Principal first = f.as(f.account("acme-" + i));
                Principal second = f.as(f.user(first, "second", Role.OWNER));
                var demote = new Users.UpdateRequest(Role.ADMIN);
                List<Throwable> outcomes = Race.of(
                        () -> f.cp.users().update(first, "second", demote),
                        () -> f.cp.users().update(second, first.user(), demote));
                long owners = f.store
                        .jdbi()
                        .withHandle(h -> h.createQuery(
                                        "select count(*) from users where account_seq = :a and role = 'owner'")
                                .bind("a", first.accountSeq())
                                .mapTo(Long.class)
                                .one());
                assertThat(owners).as("owners of acme-%d", i).isEqualTo(1);
                assertOneWonAndOneGot409(outcomes, "acme-" + i);
            }
        }
    }
}
