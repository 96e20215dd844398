package dev.underpass.controlplane;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.underpass.controlplane.api.Json;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.HealthCheck;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The store on both databases: the migrations apply to an empty database, and everything the
 * control plane keeps reads back the same after the store is closed and opened again.
 */
class StorePersistenceTest {
    @TempDir
    static Path dir;

    static Databases databases;

    @BeforeAll
    static void startPostgres() throws Exception {
        databases = Databases.start(dir);
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        databases.close();
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void migrationsApplyOnAFreshDatabaseAndOnlyOnce(Db db) {
        StoreConfig config = databases.fresh(db);
        for (int open = 0; open < 2; open++) {
            try (Store store = Store.open(config)) {
                var applied = store.jdbi()
                        .withHandle(h -> h.createQuery(
                                        "select version, success from flyway_schema_history where version is not null order by installed_rank")
                                .map((rs, ctx) -> rs.getString("version") + ":" + rs.getBoolean("success"))
                                .list());
                assertThat(applied)
                        .as("open %d", open)
                        .containsExactly(
                                "1:true", "2:true", "3:true", "4:true", "5:true", "6:true", "7:true", "8:true");
                for (String table : List.of(
                        "accounts",
                        "users",
                        "api_keys",
                        "agent_tokens",
                        "services",
                        "service_listeners",
                        "service_principals",
                        "endpoints",
                        "endpoint_ports",
                        "endpoint_events",
                        "audit_events",
                        "audit_heads",
                        "console_sessions")) {
                    long rows = store.jdbi()
                            .withHandle(h -> h.createQuery("select count(*) from " + table)
                                    .mapTo(Long.class)
                                    .one());
                    assertThat(rows).as(table).isZero();
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Db.class)
    void everythingReadsBackTheSameAfterReopen(Db db) {
        ControlPlaneFixture f = ControlPlaneFixture.open(databases.fresh(db));
        try {
            Instant start = f.clock.instant();
            ControlPlane cp = f.cp;
            String acmeKey = f.account("acme");
            String globexKey = f.account("globex");
            String initechKey = f.account("initech");
            Principal acme = f.as(acmeKey);
            Principal globex = f.as(globexKey);
            Principal initech = f.as(initechKey);

            // A connection request that expires: the first endpoint, so that nothing else is waiting then.
            Services.View git = cp.services()
                    .create(
                            acme,
                            new Services.CreateRequest(
                                    "git",
                                    "the source",
                                    List.of(
                                            new Services.Listener(
                                                    "tcp",
                                                    443,
                                                    List.of("git1.acme.internal:443", "git2.acme.internal:443"),
                                                    new HealthCheck("HTTPS", "/healthz", "200,204", 5, null, null, 4)),
                                            new Services.Listener(null, 22, List.of("git1.acme.internal:22"))),
                                    List.of("globex", "initech"),
                                    true,
                                    "git.acme.example.com",
                                    "roundRobin",
                                    "failClosed"));
            String expired = cp.endpoints()
                    .create(initech, new Endpoints.CreateRequest("acme/git"))
                    .id();
            f.clock.advance(Duration.ofDays(8));
            assertThat(cp.endpoints().expireRequests(Duration.ofDays(7))).isEqualTo(1);

            // Users, keys and agent tokens of all kinds.
            f.clock.advance(Duration.ofMinutes(1));
            String aliceKey = f.user(acme, "alice", Role.ADMIN);
            String victorKey = f.user(acme, "victor", Role.VIEWER);
            String narrowKey = cp.apiKeys()
                    .create(
                            f.as(aliceKey),
                            new ApiKeys.CreateRequest(
                                    "ci",
                                    null,
                                    List.of(Scope.SERVICES_READ, Scope.ENDPOINTS_READ),
                                    f.clock.instant().plus(Duration.ofDays(30))))
                    .key();
            String revokedKey = cp.apiKeys()
                    .create(acme, new ApiKeys.CreateRequest("old", null, null, null))
                    .key();
            cp.apiKeys().revoke(acme, f.as(revokedKey).keyId());
            var edge1 = cp.agentTokens()
                    .create(
                            acme,
                            new AgentTokens.CreateRequest(
                                    "edge-1", f.clock.instant().plus(Duration.ofDays(90))));
            var edge2 = cp.agentTokens().create(acme, new AgentTokens.CreateRequest("edge-2", null));
            cp.agentTokens().revoke(acme, edge2.agentToken().id());
            assertThat(cp.agentTokens().verify(edge1.token())).isPresent();

            // Private DNS: one verified, one that failed verification.
            f.txt.put(
                    "_underpass-verification.git.acme.example.com",
                    List.of(git.privateDns().verificationValue(), "unrelated"));
            assertThat(cp.privateNameVerification().verify(acme, "git").state().text())
                    .isEqualTo("verified");
            cp.services()
                    .create(
                            acme,
                            new Services.CreateRequest(
                                    "registry",
                                    null,
                                    List.of(new Services.Listener("tcp", 5000, List.of("registry.acme.internal:5000"))),
                                    List.of("*"),
                                    false,
                                    "registry.acme.example.com"));
            assertThat(cp.privateNameVerification()
                            .verify(acme, "registry")
                            .state()
                            .text())
                    .isEqualTo("failed");
            cp.services()
                    .create(
                            acme,
                            new Services.CreateRequest(
                                    "wiki",
                                    "internal wiki",
                                    List.of(new Services.Listener("tcp", 80, List.of("10.0.0.7:80"))),
                                    null,
                                    null,
                                    null));

            // Endpoints in every state that stays: available with ports, pending, failed, rejected, deleting, deleted.
            f.clock.advance(Duration.ofMinutes(1));
            String available = cp.endpoints()
                    .create(globex, new Endpoints.CreateRequest("acme/git"))
                    .id();
            f.clock.advance(Duration.ofSeconds(5));
            cp.endpoints().accept(acme, available, new Endpoints.DecisionRequest("welcome"));
            f.clock.advance(Duration.ofSeconds(5));
            assertThat(cp.endpoints().provisioned(available, Map.of(443, 40001, 22, 40002)))
                    .isTrue();
            String failed = cp.endpoints()
                    .create(globex, new Endpoints.CreateRequest("acme/registry"))
                    .id();
            cp.endpoints().provisioningFailed(failed, "no free port");
            String pending = cp.endpoints()
                    .create(initech, new Endpoints.CreateRequest("acme/registry"))
                    .id();
            String rejected = cp.endpoints()
                    .create(acme, new Endpoints.CreateRequest("acme/wiki"))
                    .id();
            cp.endpoints().reject(acme, rejected, null);
            String deleted = cp.endpoints()
                    .create(acme, new Endpoints.CreateRequest("acme/registry"))
                    .id();
            cp.endpoints().delete(acme, deleted);
            cp.endpoints().released(deleted);
            String deleting = cp.endpoints()
                    .create(acme, new Endpoints.CreateRequest("acme/git"))
                    .id();
            cp.endpoints().accept(acme, deleting, null);
            cp.endpoints().delete(acme, deleting);

            Map<String, String> keys = new LinkedHashMap<>();
            keys.put("operator", f.operatorKey);
            keys.put("acme", acmeKey);
            keys.put("alice", aliceKey);
            keys.put("victor", victorKey);
            keys.put("narrow", narrowKey);
            keys.put("globex", globexKey);
            keys.put("initech", initechKey);
            List<String> endpointIds = List.of(expired, available, failed, pending, rejected, deleted, deleting);
            JsonNode before = snapshot(f, keys, endpointIds);

            f = f.reopen();
            JsonNode after = snapshot(f, keys, endpointIds);
            assertThat(JsonDiff.of(before, after))
                    .as("what changed across the reopen")
                    .isEmpty();

            // What the snapshot holds is what was written.
            JsonNode ep = after.at("/globex/endpoints/" + available); // the consumer's view has the addresses
            assertThat(ep.get("state").asText()).isEqualTo("available");
            assertThat(ep.get("ports").toString())
                    .isEqualTo("[{\"servicePort\":22,\"gatewayPort\":40002,\"address\":\"gw.test:40002\"},"
                            + "{\"servicePort\":443,\"gatewayPort\":40001,\"address\":\"gw.test:40001\"}]");
            assertThat(ep.get("dnsNames")).hasSize(2);
            assertThat(ep.get("dnsNames").get(1).asText()).isEqualTo("git.acme.example.com");
            Instant requested = start.plus(Duration.ofDays(8)).plus(Duration.ofMinutes(2));
            assertThat(events(ep))
                    .containsExactly(
                            "null>pendingAcceptance at " + requested + " by owner@globex (key "
                                    + f.as(globexKey).keyId() + "): waiting for acme to accept",
                            "pendingAcceptance>pending at " + requested.plusSeconds(5) + " by account acme: welcome",
                            "pending>available at " + requested.plusSeconds(10)
                                    + " by gateway: listening on 2 port(s)");
            assertThat(after.at("/acme/endpoints/" + available + "/ports").isMissingNode())
                    .as("provider sees no addresses")
                    .isTrue();
            assertThat(after.at("/acme/endpoints/" + available + "/events/1/actor")
                            .asText())
                    .as("the provider sees its own principal")
                    .isEqualTo("owner@acme (key " + f.as(acmeKey).keyId() + ")");
            assertThat(after.at("/acme/endpoints/" + expired + "/state").asText())
                    .isEqualTo("expired");
            assertThat(after.at("/acme/endpoints/" + failed + "/stateReason").asText())
                    .isEqualTo("no free port");
            assertThat(after.at("/acme/endpoints/" + deleted + "/state").asText())
                    .isEqualTo("deleted");
            assertThat(after.at("/acme/endpoints/" + deleting + "/state").asText())
                    .isEqualTo("deleting");
            assertThat(after.at("/acme/endpoints/" + pending + "/state").asText())
                    .isEqualTo("pending");
            assertThat(after.at("/acme/endpoints/" + rejected + "/state").asText())
                    .isEqualTo("rejected");
            assertThat(after.get("deleting").toString()).isEqualTo("[\"" + deleting + "\"]");
            assertThat(after.get("allocatedPorts").toString()).isEqualTo("[40001,40002]");
            assertThat(after.get("listening"))
                    .extracting(JsonNode::toString)
                    .asString()
                    .contains(available, pending, "git2.acme.internal:443", "registry.acme.internal:5000");

            JsonNode gitAfter = after.at("/acme/services/items/0");
            assertThat(gitAfter.get("name").asText()).isEqualTo("git");
            assertThat(gitAfter.get("listeners").toString())
                    .isEqualTo(
                            "[{\"protocol\":\"tcp\",\"port\":22,\"targets\":[\"git1.acme.internal:22\"],\"healthCheck\":{\"protocol\":\"tcp\","
                                    + "\"intervalSeconds\":10,\"timeoutSeconds\":5,\"healthyThreshold\":3,\"unhealthyThreshold\":2}},"
                                    + "{\"protocol\":\"tcp\",\"port\":443,\"targets\":[\"git1.acme.internal:443\",\"git2.acme.internal:443\"],"
                                    + "\"healthCheck\":{\"protocol\":\"https\",\"path\":\"/healthz\",\"matcher\":\"200,204\",\"intervalSeconds\":5,"
                                    + "\"timeoutSeconds\":5,\"healthyThreshold\":3,\"unhealthyThreshold\":4}}]");
            assertThat(gitAfter.get("loadBalancing").asText()).isEqualTo("roundRobin");
            assertThat(gitAfter.get("whenAllUnhealthy").asText()).isEqualTo("failClosed");
            assertThat(after.at("/acme/services/items/1/loadBalancing").asText())
                    .isEqualTo("leastOutstanding");
            assertThat(after.at("/acme/services/items/1/whenAllUnhealthy").asText())
                    .isEqualTo("failOpen");
            assertThat(gitAfter.get("allowedPrincipals").toString()).isEqualTo("[\"globex\",\"initech\"]");
            assertThat(gitAfter.at("/privateDns/state").asText()).isEqualTo("verified");
            assertThat(gitAfter.get("createdAt").asText()).isEqualTo(start.toString());
            assertThat(after.at("/acme/services/items/1/privateDns/state").asText())
                    .isEqualTo("failed");
            assertThat(after.at("/acme/services/items/2/description").asText()).isEqualTo("internal wiki");
            assertThat(after.at("/acme/services/items/2/acceptanceRequired").asBoolean())
                    .isTrue();

            JsonNode acmeKeys = after.at("/acme/apiKeys/items");
            assertThat(acmeKeys.findValuesAsText("name"))
                    .containsExactly("first-key", "key-alice", "key-victor", "ci", "old");
            assertThat(acmeKeys.get(3).get("scopes").toString()).isEqualTo("[\"services:read\",\"endpoints:read\"]");
            assertThat(acmeKeys.get(4).get("status").asText()).isEqualTo("revoked");
            assertThat(after.at("/acme/agentTokens/items").findValuesAsText("status"))
                    .containsExactly("active", "revoked");
            assertThat(after.at("/acme/users/items").findValuesAsText("role"))
                    .containsExactly("owner", "admin", "viewer");
            assertThat(after.at("/operator/accounts/items").findValuesAsText("name"))
                    .containsExactly("operator", "acme", "globex", "initech");

            // Credentials work, or stay refused, after the reopen.
            assertThat(f.as(narrowKey).scopes()).containsExactlyInAnyOrder(Scope.SERVICES_READ, Scope.ENDPOINTS_READ);
            assertThat(f.as(victorKey).role()).isEqualTo(Role.VIEWER);
            ControlPlaneFixture reopened = f;
            assertThatThrownBy(() -> reopened.as(revokedKey))
                    .isInstanceOfSatisfying(
                            Refused.class, e -> assertThat(status(e)).isEqualTo(401));
            assertThat(f.cp.agentTokens().verify(edge1.token()).orElseThrow().account())
                    .isEqualTo("acme");
            assertThat(f.cp.agentTokens().verify(edge2.token())).isEmpty();
        } finally {
            f.close();
        }
    }

    private static List<String> events(JsonNode endpoint) {
        return endpoint.get("events")
                .valueStream()
                .map(e -> e.path("from").asText("null") + ">" + e.get("to").asText() + " at "
                        + e.get("at").asText() + " by " + e.get("actor").asText() + ": "
                        + e.get("reason").asText())
                .toList();
    }

    /** Everything each caller can read, and the data plane's view, as one JSON tree. */
    private static JsonNode snapshot(ControlPlaneFixture f, Map<String, String> keys, List<String> endpointIds) {
        ControlPlane cp = f.cp;
        ObjectNode all = Json.MAPPER.createObjectNode();
        Page.Request page = new Page.Request(Page.MAX_LIMIT, 0);
        Map<String, Principal> principals = new LinkedHashMap<>();
        keys.forEach((name, key) -> principals.put(name, f.as(key))); // sets every lastUsedAt before anything is read
        for (Map.Entry<String, Principal> k : principals.entrySet()) {
            Principal p = k.getValue();
            ObjectNode node = all.putObject(k.getKey());
            node.put(
                    "principal",
                    p.actor() + " " + p.role() + " "
                            + p.scopes().stream().sorted().toList());
            if (p.can(Scope.ACCOUNTS_READ)) {
                node.set("accounts", tree(cp.accounts().list(p, page)));
            }
            if (p.can(Scope.USERS_READ)) {
                node.set("users", tree(cp.users().list(p, page)));
            }
            if (p.can(Scope.KEYS_READ)) {
                node.set("apiKeys", tree(cp.apiKeys().list(p, page)));
            }
            if (p.can(Scope.AGENT_TOKENS_READ)) {
                node.set("agentTokens", tree(cp.agentTokens().list(p, page)));
            }
            if (p.can(Scope.SERVICES_READ)) {
                node.set("services", tree(cp.services().list(p, page)));
                node.set("offers", tree(cp.services().offers(p, page)));
            }
            if (p.can(Scope.ENDPOINTS_READ)) {
                node.set(
                        "consumerEndpoints",
                        tree(cp.endpoints().list(p, new Endpoints.Filter("consumer", null, null), page)));
                node.set(
                        "providerEndpoints",
                        tree(cp.endpoints().list(p, new Endpoints.Filter("provider", null, null), page)));
                ObjectNode each = node.putObject("endpoints");
                for (String id : endpointIds) {
                    try {
                        each.set(id, tree(cp.endpoints().get(p, id)));
                    } catch (Refused e) {
                        each.put(id, status(e));
                    }
                }
            }
        }
        all.set("listening", tree(cp.endpoints().listening()));
        all.set(
                "allocatedPorts",
                tree(cp.endpoints().allocatedPorts().stream().sorted().toList()));
        all.set("deleting", tree(cp.endpoints().deleting()));
        return all;
    }

    private static JsonNode tree(Object value) {
        return Json.MAPPER.valueToTree(value);
    }
}
