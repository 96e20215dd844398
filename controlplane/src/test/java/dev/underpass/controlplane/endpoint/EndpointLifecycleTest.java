package dev.underpass.controlplane.endpoint;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static dev.underpass.controlplane.endpoint.EndpointState.Transition.ACCEPT;
import static dev.underpass.controlplane.endpoint.EndpointState.Transition.DELETE;
import static dev.underpass.controlplane.endpoint.EndpointState.Transition.EXPIRE;
import static dev.underpass.controlplane.endpoint.EndpointState.Transition.PROVISIONED;
import static dev.underpass.controlplane.endpoint.EndpointState.Transition.PROVISIONING_FAILED;
import static dev.underpass.controlplane.endpoint.EndpointState.Transition.REJECT;
import static dev.underpass.controlplane.endpoint.EndpointState.Transition.RELEASED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.Databases;
import dev.underpass.controlplane.Db;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.endpoint.EndpointState.Transition;
import dev.underpass.controlplane.service.Services;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Endpoints move through {@link EndpointState} in the store exactly as the table says, on both
 * databases: every legal move lands in the right state and is recorded with its time, actor and
 * reason; every other move is refused (409 naming the current state, for the API's moves; no
 * effect, for the gateway's) and leaves the endpoint as it was.
 */
class EndpointLifecycleTest {
    static final Duration TTL = ControlPlane.Settings.DEFAULT_REQUEST_TTL;
    /** A shortest way from a new connection request to each state. */
    static final Map<EndpointState, List<Transition>> PATHS = new EnumMap<>(Map.of(
            EndpointState.PENDING_ACCEPTANCE, List.of(),
            EndpointState.PENDING, List.of(ACCEPT),
            EndpointState.AVAILABLE, List.of(ACCEPT, PROVISIONED),
            EndpointState.REJECTED, List.of(REJECT),
            EndpointState.FAILED, List.of(ACCEPT, PROVISIONING_FAILED),
            EndpointState.EXPIRED, List.of(EXPIRE),
            EndpointState.DELETING, List.of(DELETE),
            EndpointState.DELETED, List.of(DELETE, RELEASED)));

    @TempDir
    static Path dir;

    static Databases databases;

    ControlPlaneFixture f;
    Principal provider;
    Principal consumer;
    int services;

    @BeforeAll
    static void startPostgres() throws Exception {
        databases = Databases.start(dir);
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        databases.close();
    }

    void open(Db db) {
        f = ControlPlaneFixture.open(databases.fresh(db));
        provider = f.as(f.account("acme"));
        consumer = f.as(f.account("globex"));
    }

    @AfterEach
    void close() {
        if (f != null) {
            f.close();
        }
    }

    /** A new connection request from the consumer to a new service of the provider. */
    String request(boolean acceptanceRequired) {
        String name = "svc-" + ++services;
        f.service(provider, name, acceptanceRequired, "globex");
        return f.cp.endpoints()
                .create(consumer, new Endpoints.CreateRequest("acme/" + name))
                .id();
    }

    Endpoints.View view(String id) {
        return f.cp.endpoints().get(consumer, id);
    }

    /** Makes {@code t} happen to endpoint {@code id} the way the API or the gateway does it. */
    void apply(String id, Transition t) {
        var endpoints = f.cp.endpoints();
        switch (t) {
            case ACCEPT -> endpoints.accept(provider, id, new Endpoints.DecisionRequest("ok by acme"));
            case REJECT -> endpoints.reject(provider, id, new Endpoints.DecisionRequest("not you"));
            case PROVISIONED -> endpoints.provisioned(id, Map.of(443, 41000 + services));
            case PROVISIONING_FAILED -> endpoints.provisioningFailed(id, "no free port");
            case EXPIRE -> {
                f.clock.advance(TTL.plusSeconds(1));
                endpoints.expireRequests(TTL);
            }
            case DELETE -> endpoints.delete(consumer, id);
            case RELEASED -> endpoints.released(id);
        }
    }

    /** Who a move is recorded as, as the consumer sees it (the provider's principals only by account), and why. */
    String actor(Transition t) {
        return switch (t) {
            case ACCEPT, REJECT -> "account " + provider.account();
            case DELETE -> consumer.actor();
            default -> Endpoints.GATEWAY;
        };
    }

    String reason(Transition t) {
        return switch (t) {
            case ACCEPT -> "ok by acme";
            case REJECT -> "not you";
            case PROVISIONED -> "listening on 1 port(s)";
            case PROVISIONING_FAILED -> "no free port";
            case EXPIRE -> "the provider did not decide within 168h";
            case DELETE -> "deleted by the consumer";
            case RELEASED -> "listeners closed";
        };
    }

    String inState(EndpointState s) {
        String id = request(true);
        for (Transition t : PATHS.get(s)) {
            f.clock.advance(Duration.ofSeconds(1));
            apply(id, t);
        }
        assertThat(view(id).state()).as("path to %s", s).isEqualTo(s);
        return id;
    }

    /** Leaves no request waiting, so that the next EXPIRE touches only its own endpoint. */
    void settle(String id) {
        if (view(id).state() == EndpointState.PENDING_ACCEPTANCE) {
            apply(id, REJECT);
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void everyLegalMoveLandsWhereTheTableSaysAndIsRecorded(Db db) {
        open(db);
        for (EndpointState from : EndpointState.values()) {
            for (Transition t : from.allowed()) {
                String id = inState(from);
                List<Endpoints.Event> before = view(id).events();
                int changes = f.endpointChanges.get();
                Instant at = f.clock.advance(Duration.ofSeconds(1));
                apply(id, t);
                if (t == EXPIRE) {
                    at = f.clock.instant();
                }
                Endpoints.View after = view(id);
                EndpointState to = from.after(t);
                assertThat(after.state()).as("%s after %s", from, t).isEqualTo(to);
                assertThat(after.stateReason()).isEqualTo(reason(t));
                assertThat(after.updatedAt()).isEqualTo(at);
                assertThat(after.events())
                        .as("%s after %s", from, t)
                        .hasSize(before.size() + 1)
                        .startsWith(before.toArray(Endpoints.Event[]::new))
                        .last()
                        .isEqualTo(new Endpoints.Event(at, from, to, actor(t), reason(t)));
                if (t == ACCEPT || t == REJECT || t == DELETE) {
                    assertThat(f.endpointChanges.get())
                            .as("listeners told of %s", t)
                            .isGreaterThan(changes);
                }
                boolean listening = f.cp.endpoints().listening().stream().anyMatch(l -> l.id().equals(id));
                assertThat(listening).as("listening in %s", to).isEqualTo(EndpointState.LISTENING.contains(to));
                assertThat(f.cp.endpoints().deleting().contains(id)).isEqualTo(to == EndpointState.DELETING);
                settle(id);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void everyIllegalMoveIsRefusedAndChangesNothing(Db db) {
        open(db);
        for (EndpointState from : EndpointState.values()) {
            for (Transition t : Transition.values()) {
                if (from.allowed().contains(t)) {
                    continue;
                }
                String id = inState(from);
                Endpoints.View before = view(id);
                List<Integer> ports = f.cp.endpoints().allocatedPorts();
                switch (t) {
                    case ACCEPT, REJECT, DELETE ->
                        assertThatThrownBy(() -> apply(id, t))
                                .as("%s from %s", t, from)
                                .isInstanceOfSatisfying(Refused.class, e -> {
                                    assertThat(status(e)).isEqualTo(409);
                                    assertThat(e.getMessage()).contains("endpoint " + id + " is " + from.text() + ":");
                                });
                    case PROVISIONED -> {
                        // The gateway's report on an endpoint that is not (or no longer) pending: nothing moves,
                        // and it learns to close its listeners unless the endpoint is available.
                        boolean keep = f.cp.endpoints().provisioned(id, Map.of(443, 42000 + services));
                        assertThat(keep)
                                .as("keep listeners of a %s endpoint", from)
                                .isEqualTo(from == EndpointState.AVAILABLE);
                    }
                    default -> apply(id, t);
                }
                Endpoints.View after = view(id);
                if (t == PROVISIONED && from == EndpointState.AVAILABLE) {
                    // Only the ports may change: the gateway re-opened them elsewhere.
                    assertThat(after.ports())
                            .extracting(Endpoints.Port::gatewayPort)
                            .containsExactly(42000 + services);
                    after = new Endpoints.View(
                            after.id(),
                            after.account(),
                            after.service(),
                            after.state(),
                            after.stateReason(),
                            after.dnsNames(),
                            before.ports(),
                            after.createdAt(),
                            after.updatedAt(),
                            after.events());
                } else {
                    assertThat(f.cp.endpoints().allocatedPorts())
                            .as("ports after %s from %s", t, from)
                            .containsExactlyInAnyOrderElementsOf(ports);
                }
                assertThat(after).as("%s from %s", t, from).isEqualTo(before);
                settle(id);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void aServiceWithoutAcceptanceMakesEndpointsPendingAtOnce(Db db) {
        open(db);
        Instant now = f.clock.instant();
        String id = request(false);
        assertThat(view(id).state()).isEqualTo(EndpointState.PENDING);
        assertThat(view(id).events())
                .containsExactly(new Endpoints.Event(
                        now,
                        null,
                        EndpointState.PENDING,
                        consumer.actor(),
                        "the service accepts connection requests automatically"));
        assertThat(f.cp.endpoints().listening())
                .extracting(Endpoints.Listening::id)
                .containsExactly(id);
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void requestsExpireOnlyAfterTheirTimeToLive(Db db) {
        open(db);
        String old = request(true);
        f.clock.advance(TTL.minusMinutes(1));
        String young = request(true);
        assertThat(f.cp.endpoints().expireRequests(TTL)).isZero();
        f.clock.advance(Duration.ofMinutes(2));
        assertThat(f.cp.endpoints().expireRequests(TTL)).isEqualTo(1);
        assertThat(view(old).state()).isEqualTo(EndpointState.EXPIRED);
        assertThat(view(young).state()).isEqualTo(EndpointState.PENDING_ACCEPTANCE);
        assertThat(f.cp.endpoints().expireRequests(TTL)).isZero();
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void rejectingOrDeletingAnAvailableEndpointFreesItsPorts(Db db) {
        open(db);
        String rejected = inState(EndpointState.AVAILABLE);
        String deleted = inState(EndpointState.AVAILABLE);
        assertThat(f.cp.endpoints().allocatedPorts()).hasSize(2);
        apply(rejected, REJECT);
        apply(deleted, DELETE);
        assertThat(f.cp.endpoints().allocatedPorts()).isEmpty();
        assertThat(f.cp.endpoints().listening()).isEmpty();
        assertThat(view(rejected).ports()).isEmpty();
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void onlyTheProviderDecidesAndOnlyTheConsumerDeletes(Db db) {
        open(db);
        String id = request(true);
        Principal outsider = f.as(f.account("initech"));
        Endpoints.View before = view(id);
        var endpoints = f.cp.endpoints();
        assertStatus(403, () -> endpoints.accept(consumer, id, null));
        assertStatus(403, () -> endpoints.reject(consumer, id, null));
        assertStatus(403, () -> endpoints.delete(provider, id));
        assertStatus(404, () -> endpoints.accept(outsider, id, null));
        assertStatus(404, () -> endpoints.reject(outsider, id, null));
        assertStatus(404, () -> endpoints.delete(outsider, id));
        assertStatus(404, () -> endpoints.get(outsider, id));
        assertThat(view(id)).isEqualTo(before);
    }

    static void assertStatus(int status, Runnable r) {
        assertThatThrownBy(r::run)
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(status));
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void removingAnAllowedPrincipalAffectsNewEndpointsOnly(Db db) {
        open(db);
        String id = request(true); // service svc-1, allowing globex
        apply(id, ACCEPT);
        f.cp.services().update(provider, "svc-1", new Services.UpdateRequest(null, null, List.of(), null, null));

        apply(id, PROVISIONED);
        assertThat(view(id).state()).as("the existing endpoint goes on").isEqualTo(EndpointState.AVAILABLE);
        apply(id, DELETE);
        apply(id, RELEASED);
        assertThatThrownBy(() -> f.cp.endpoints().create(consumer, new Endpoints.CreateRequest("acme/svc-1")))
                .as("a new endpoint of the no longer allowed account is refused")
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(403))
                .hasMessageContaining("does not exist or does not allow account globex");
    }
}
