package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.api.Json;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.HealthReports.Report;
import dev.underpass.controlplane.service.HealthState;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Health checks through the CLI against the real API: {@code --health-check} goes with the
 * {@code --listener} of its port, {@code service show} prints the checks and settings, and
 * {@code service health} reports each target as the gateway's agents see it.
 */
class ServiceHealthTest extends OperatorCliTest {
    static final Instant T = Instant.parse("2030-01-01T00:00:00Z");

    @Test
    void checksGoWithTheirListenersAndShowPrintsThem() throws Exception {
        Cli.Run created = operator.run(
                "service",
                "create",
                "git",
                "--listener",
                "443=git.internal:443",
                "--listener",
                "22=git.internal:22",
                "--health-check",
                "443=https:/healthz,interval=5,matcher=200-299",
                "--health-check",
                "22=tcp",
                "--load-balancing",
                "roundRobin");
        assertThat(created.code()).as(created.err()).isZero();
        assertThat(created.out())
                .contains(
                        "  22/tcp → git.internal:22\n"
                                + "    health check: tcp connect, every 10 s (timeout 5 s), healthy after 3, unhealthy after 2\n"
                                + "  443/tcp → git.internal:443\n"
                                + "    health check: https GET /healthz expecting 200-299, every 5 s (timeout 5 s), healthy after 3, "
                                + "unhealthy after 2\n",
                        "load balancing: roundRobin\n",
                        "when all targets are unhealthy: failOpen\n");

        Cli.Run updated = operator.run(
                "service",
                "update",
                "git",
                "--listener",
                "443=git.internal:443",
                "--health-check",
                "443=tls,unhealthy=5",
                "--when-all-unhealthy",
                "failClosed");
        assertThat(updated.code()).as(updated.err()).isZero();
        JsonNode shown = ApiClient.JSON.readTree(
                operator.run("service", "show", "git", "-o", "json").out());
        assertThat(shown.get("listeners")).hasSize(1);
        assertThat(shown.at("/listeners/0/healthCheck").toString())
                .isEqualTo("{\"protocol\":\"tls\",\"intervalSeconds\":10,"
                        + "\"timeoutSeconds\":5,\"healthyThreshold\":3,\"unhealthyThreshold\":5}");
        assertThat(shown.get("loadBalancing").asText()).isEqualTo("roundRobin");
        assertThat(shown.get("whenAllUnhealthy").asText()).isEqualTo("failClosed");
        assertThat(operator.run("service", "show", "git").out())
                .contains(
                        "    health check: tls handshake, every 10 s (timeout 5 s), healthy after 3, unhealthy after 5\n");
    }

    @Test
    void aCheckWithoutItsListenerOrOfTheWrongShapeIsAUsageErrorAndChangesNothing() {
        Cli.Run noListener = operator.run(
                "service", "create", "git", "--listener", "443=git.internal:443", "--health-check", "22=tcp");
        assertThat(noListener.code()).isEqualTo(2);
        assertThat(noListener.err())
                .contains("underpass: --health-check: port 22 has no --listener in this command "
                        + "(expected: --listener 22=HOST:PORT with it; on update too, since --listener replaces every listener and its "
                        + "health check)");

        assertThat(operator.run("service", "create", "git", "--listener", "443=git.internal:443")
                        .code())
                .isZero();
        String before = operator.run("service", "show", "git", "-o", "json").out();
        Cli.Run updateAlone = operator.run("service", "update", "git", "--health-check", "443=https");
        assertThat(updateAlone.code()).isEqualTo(2);
        assertThat(updateAlone.err()).contains("port 443 has no --listener in this command", "on update too");

        Cli.Run twice = operator.run(
                "service",
                "update",
                "git",
                "--listener",
                "443=git.internal:443",
                "--health-check",
                "443=https",
                "--health-check",
                "443=tcp");
        assertThat(twice.code()).isEqualTo(2);
        assertThat(twice.err()).contains("--health-check: port 443 given twice (expected: one per listener)");

        Cli.Run shape = operator.run(
                "service",
                "update",
                "git",
                "--listener",
                "443=git.internal:443",
                "--health-check",
                "443=https,every=5");
        assertThat(shape.code()).isEqualTo(2);
        assertThat(shape.err()).contains("--health-check", "unknown setting 'every=5'");

        Cli.Run policy = operator.run("service", "update", "git", "--load-balancing", "random");
        assertThat(policy.code()).isEqualTo(2);
        assertThat(policy.err()).contains("--load-balancing", "leastOutstanding, roundRobin");

        // The values are the gateway's to judge: refused there, with every field named.
        Cli.Run values = operator.run(
                "service",
                "update",
                "git",
                "--listener",
                "443=git.internal:443",
                "--health-check",
                "443=tcp:/healthz,interval=500");
        assertThat(values.code()).isEqualTo(1);
        assertThat(values.err())
                .contains(
                        "the request has 2 invalid field(s) (HTTP 400",
                        "\n  - listeners[0].healthCheck.path: given (expected: none for a tcp check;",
                        "\n  - listeners[0].healthCheck.intervalSeconds: 500 (expected: 1-300)");
        assertThat(operator.run("service", "show", "git", "-o", "json").out()).isEqualTo(before);
    }

    @Test
    void healthReportsEachTargetAndItsAgents() throws Exception {
        assertThat(operator.run(
                                "service",
                                "create",
                                "git",
                                "--listener",
                                "443=a.internal:443,b.internal:443",
                                "--listener",
                                "22=c.internal:22",
                                "--health-check",
                                "443=https:/healthz")
                        .code())
                .isZero();
        Map<String, List<Report>> reports = Map.of(
                "git:443/a.internal:443",
                        List.of(
                                new Report("edge-1", 3, HealthState.HEALTHY, "HTTP 200", T),
                                new Report("edge-2", 4, HealthState.UNHEALTHY, "HTTP 503", T)),
                "git:443/b.internal:443",
                        List.of(
                                new Report("edge-1", 3, HealthState.UNHEALTHY, "connection refused\u001b[2J", T),
                                new Report("edge-1", 5, HealthState.DRAINING, null, T)));
        HealthReports gateway =
                (account, id) -> "operator".equals(account) ? reports.getOrDefault(id, List.of()) : List.of();
        api.healthReports.set(gateway);

        Cli.Run table = operator.run("service", "health", "git");
        assertThat(table.code()).as(table.err()).isZero();
        assertThat(table.out().lines())
                .containsExactly(
                        "service: git",
                        "load balancing: leastOutstanding",
                        "when all targets are unhealthy: failOpen",
                        "PORT   TARGET           STATE         REASON                             AGENTS",
                        "22     c.internal:22    unavailable   no live agent serves this target   -",
                        "443    a.internal:443   healthy       healthy through 1 of 2 agents      edge-1=healthy, edge-2=unhealthy",
                        "443    b.internal:443   unhealthy     connection refused?[2J             edge-1#3=unhealthy, edge-1#5=draining");

        Cli.Run json = operator.run("service", "health", "git", "--output", "json");
        assertThat(json.code()).as(json.err()).isZero();
        JsonNode body =
                ApiClient.JSON.readTree(Json.write(api.controlPlane.services().health(api.operator(), "git", gateway)));
        assertThat(ApiClient.JSON.readTree(json.out())).isEqualTo(body);
        assertThat(body.at("/targets/2/agents/0/reason").asText()).isEqualTo("connection refused\u001b[2J");

        Cli.Run missing = operator.run("service", "health", "nothing");
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).contains("underpass: service 'nothing' does not exist in your account (HTTP 404");
    }
}
