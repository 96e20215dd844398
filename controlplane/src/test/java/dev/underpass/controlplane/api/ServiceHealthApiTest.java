package dev.underpass.controlplane.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.service.HealthReports.Report;
import dev.underpass.controlplane.service.HealthState;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /v1/services/{name}/health} through the real HTTPS API: each target with its check
 * and its agents' reports, summed up into one state; the reports asked for are the caller's
 * account's. Health checks and settings go in and come out of the service's own routes.
 */
class ServiceHealthApiTest {
    static final Instant T = Instant.parse("2030-01-01T00:00:00Z");

    @TempDir
    Path dir;

    ApiFixture api;
    String acme;
    /** The reports the fake gateway has, by account and check id. */
    final Map<String, List<Report>> reports = new ConcurrentHashMap<>();

    @BeforeEach
    void start() throws Exception {
        api = ApiFixture.start(dir);
        api.cp.healthReports.set((account, checkId) -> reports.getOrDefault(account + " " + checkId, List.of()));
        acme = api.ok(api.cp.operatorKey, "POST", "/v1/accounts", "{\"name\":\"acme\"}", 201)
                .at("/ownerKey/key")
                .asText();
    }

    @AfterEach
    void stop() {
        api.close();
    }

    /** A report in state {@code state}, spelled as the API spells it. */
    static Report report(String agent, long session, String state, String reason) {
        return new Report(agent, session, HealthState.valueOf(state.toUpperCase(Locale.ROOT)), reason, T);
    }

    @Test
    void eachTargetIsSummedUpFromItsAgentsReports() {
        JsonNode created = api.ok(acme, "POST", "/v1/services", """
                {"name": "git", "loadBalancing": "roundRobin",
                 "listeners": [
                   {"port": 443, "targets": ["a.internal:443", "b.internal:443", "c.internal:443", "d.internal:443"],
                    "healthCheck": {"protocol": "https", "path": "/healthz", "intervalSeconds": 5}},
                   {"port": 22, "targets": ["a.internal:22", "b.internal:22"]}]}""", 201);
        assertThat(created.at("/listeners/1/healthCheck").toString())
                .isEqualTo("{\"protocol\":\"https\","
                        + "\"path\":\"/healthz\",\"matcher\":\"200-399\",\"intervalSeconds\":5,\"timeoutSeconds\":5,"
                        + "\"healthyThreshold\":3,\"unhealthyThreshold\":2}");
        assertThat(created.get("loadBalancing").asText()).isEqualTo("roundRobin");
        assertThat(created.get("whenAllUnhealthy").asText()).isEqualTo("failOpen");

        reports.put(
                "acme git:443/a.internal:443",
                List.of(report("edge-2", 7, "unhealthy", "HTTP 503"), report("edge-1", 3, "healthy", "HTTP 200")));
        reports.put(
                "acme git:443/b.internal:443",
                List.of(report("edge-1", 3, "initial", null), report("edge-2", 7, "unhealthy", "connection refused")));
        reports.put(
                "acme git:443/c.internal:443",
                List.of(
                        report("edge-1", 3, "draining", null),
                        report("edge-2", 7, "unhealthy", "HTTP 500"),
                        report("edge-3", 9, "unhealthy", "timed out after 5 s")));
        reports.put("acme git:22/a.internal:22", List.of(report("edge-1", 3, "draining", "agent draining")));
        // Another account's reports for the same ids are not acme's.
        reports.put("globex git:22/b.internal:22", List.of(report("spy", 1, "healthy", "HTTP 200")));

        JsonNode health = api.get(acme, "/v1/services/git/health");
        assertThat(health.get("service").asText()).isEqualTo("git");
        assertThat(health.get("loadBalancing").asText()).isEqualTo("roundRobin");
        assertThat(health.get("whenAllUnhealthy").asText()).isEqualTo("failOpen");
        assertThat(health.get("targets")
                        .valueStream()
                        .map(t -> t.get("port").asInt() + " " + t.get("target").asText() + " "
                                + t.get("state").asText() + ": "
                                + t.get("reason").asText())
                        .toList())
                .containsExactly(
                        "22 a.internal:22 unhealthy: every agent serving it is draining",
                        "22 b.internal:22 unavailable: no live agent serves this target",
                        "443 a.internal:443 healthy: healthy through 1 of 2 agents",
                        "443 b.internal:443 initial: not checked yet",
                        "443 c.internal:443 unhealthy: HTTP 500",
                        "443 d.internal:443 unavailable: no live agent serves this target");

        JsonNode a = health.at("/targets/2");
        assertThat(a.get("healthCheck")).isEqualTo(created.at("/listeners/1/healthCheck"));
        assertThat(a.get("agents").toString())
                .isEqualTo("[{\"agent\":\"edge-1\",\"session\":3,\"state\":\"healthy\","
                        + "\"reason\":\"HTTP 200\",\"since\":\"2030-01-01T00:00:00Z\"},{\"agent\":\"edge-2\",\"session\":7,"
                        + "\"state\":\"unhealthy\",\"reason\":\"HTTP 503\",\"since\":\"2030-01-01T00:00:00Z\"}]");
        assertThat(health.at("/targets/1/agents")).isEmpty();
        assertThat(health.at("/targets/0/healthCheck").toString())
                .isEqualTo("{\"protocol\":\"tcp\",\"intervalSeconds\":10,"
                        + "\"timeoutSeconds\":5,\"healthyThreshold\":3,\"unhealthyThreshold\":2}");
        assertThat(health.at("/targets/3/agents/0").has("reason"))
                .as("no reason before the first verdict")
                .isFalse();
    }

    @Test
    void anUnknownServiceIsA404AndAKeyWithoutServicesReadA403() {
        assertThat(api.call(acme, "GET", "/v1/services/nothing/health").problem(404))
                .isEqualTo("service 'nothing' does not exist in your account");
        api.ok(
                acme,
                "POST",
                "/v1/services",
                "{\"name\":\"git\",\"listeners\":[{\"port\":22,\"targets\":[\"git:22\"]}]}",
                201);
        String narrow = api.ok(acme, "POST", "/v1/api-keys", "{\"name\":\"n\",\"scopes\":[\"endpoints:read\"]}", 201)
                .get("key")
                .asText();
        assertThat(api.call(narrow, "GET", "/v1/services/git/health").problem(403))
                .contains("services:read");
    }

    @Test
    void badChecksAndSettingsAreNamedByFieldAndChangeNothing() {
        api.ok(acme, "POST", "/v1/services", """
                {"name": "git", "listeners": [{"port": 22, "targets": ["git:22"], "healthCheck": {"protocol": "tls"}}]}""", 201);
        JsonNode before = api.get(acme, "/v1/services/git");

        JsonNode errors =
                api.call(acme, "PATCH", "/v1/services/git", """
                {"whenAllUnhealthy": "failSafe", "listeners": [{"port": 22, "targets": ["git:22"],
                 "healthCheck": {"protocol": "http", "matcher": "600", "timeoutSeconds": 20}}]}""").json().get("errors");
        assertThat(errors.valueStream().map(JsonNode::asText).toList())
                .containsExactly(
                        "listeners[0].healthCheck.matcher: '600' has '600' (expected: HTTP status codes 100-599 and ranges, such as "
                                + "200, 200-399 or 200,204,301-302)",
                        "listeners[0].healthCheck.timeoutSeconds: 20 (expected: at most intervalSeconds, 10)",
                        "whenAllUnhealthy: 'failSafe' (expected: failOpen or failClosed)");
        assertThat(api.call(acme, "PATCH", "/v1/services/git", """
                {"listeners": [{"port": 22, "targets": ["git:22"], "healthCheck": {"protocol": "tcp", "colour": "red"}}]}""").problem(400))
                .contains("listeners[0].healthCheck.colour: unknown field", "intervalSeconds");
        assertThat(api.call(acme, "PATCH", "/v1/services/git", """
                {"listeners": [{"port": 22, "targets": ["git:22"], "healthCheck": {"intervalSeconds": "5"}}]}""").problem(400))
                .contains("listeners[0].healthCheck.intervalSeconds: wrong type (expected: a number)");
        assertThat(api.get(acme, "/v1/services/git")).isEqualTo(before);

        JsonNode changed = api.ok(acme, "PATCH", "/v1/services/git", "{\"whenAllUnhealthy\": \"failClosed\"}", 200);
        assertThat(changed.get("listeners")).isEqualTo(before.get("listeners"));
        assertThat(changed.get("whenAllUnhealthy").asText()).isEqualTo("failClosed");
        assertThat(changed.get("loadBalancing").asText()).isEqualTo("leastOutstanding");
    }
}
