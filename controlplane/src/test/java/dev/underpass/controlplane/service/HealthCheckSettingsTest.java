package dev.underpass.controlplane.service;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.store.StoreConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The health checks of a service's listeners and its load-balancing settings: defaults complete
 * what a request leaves out, every rule refuses with the field named and changes nothing, an
 * update's listeners replace the checks, and the gateway reads them per target and per endpoint.
 */
class HealthCheckSettingsTest {
    static final HealthCheck DEFAULT = HealthCheck.DEFAULT;

    ControlPlaneFixture f;
    Principal acme;

    @BeforeEach
    void open() {
        f = ControlPlaneFixture.open(StoreConfig.inMemory("health-" + UUID.randomUUID()));
        acme = f.as(f.account("acme"));
    }

    @AfterEach
    void close() {
        f.close();
    }

    static Services.Listener listener(int port, HealthCheck check, String... targets) {
        return new Services.Listener("tcp", port, List.of(targets), check);
    }

    static HealthCheck check(String protocol, String path, String matcher) {
        return new HealthCheck(protocol, path, matcher, null, null, null, null);
    }

    static HealthCheck timing(Integer interval, Integer timeout, Integer healthy, Integer unhealthy) {
        return new HealthCheck(null, null, null, interval, timeout, healthy, unhealthy);
    }

    Services.View create(String name, HealthCheck check) {
        return f.cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                name, null, List.of(listener(443, check, name + ".internal:443")), null, null, null));
    }

    @Test
    void absentFieldsTakeTheirDefaults() {
        Services.View none = create("plain", null);
        assertThat(none.listeners().getFirst().healthCheck()).isEqualTo(DEFAULT);
        assertThat(none.loadBalancing().text()).isEqualTo("leastOutstanding");
        assertThat(none.whenAllUnhealthy().text()).isEqualTo("failOpen");

        assertThat(create("web", new HealthCheck("HTTP", null, null, null, null, null, null))
                        .listeners()
                        .getFirst()
                        .healthCheck())
                .isEqualTo(new HealthCheck("http", "/", "200-399", 10, 5, 3, 2));
        // A short interval brings the default timeout down with it.
        assertThat(create("fast", new HealthCheck("https", "/healthz", "200", 2, null, 5, null))
                        .listeners()
                        .getFirst()
                        .healthCheck())
                .isEqualTo(new HealthCheck("https", "/healthz", "200", 2, 2, 5, 2));
        assertThat(create("tls", new HealthCheck("tls", null, null, null, 7, null, 10))
                        .listeners()
                        .getFirst()
                        .healthCheck())
                .isEqualTo(new HealthCheck("tls", null, null, 10, 7, 3, 10));
        assertThat(create("empty", new HealthCheck(null, null, null, null, null, null, null))
                        .listeners()
                        .getFirst()
                        .healthCheck())
                .isEqualTo(DEFAULT);

        Services.View set = f.cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "set",
                                null,
                                List.of(listener(22, null, "ssh.internal:22")),
                                null,
                                null,
                                null,
                                "roundRobin",
                                "failClosed"));
        assertThat(set.loadBalancing().text()).isEqualTo("roundRobin");
        assertThat(set.whenAllUnhealthy().text()).isEqualTo("failClosed");
        assertThat(f.cp.services().get(acme, "set")).isEqualTo(set);
    }

    @Test
    void everyRuleIsRefusedWithItsFieldAndNothingChanges() {
        create("existing", new HealthCheck("http", "/ok", null, null, null, null, null));
        Services.View before = f.cp.services().get(acme, "existing");
        String at = "listeners[0].healthCheck.";
        String codes = "(expected: HTTP status codes 100-599 and ranges, such as 200, 200-399 or 200,204,301-302)";
        String path = "(expected: an absolute path such as /healthz, at most 1024 visible ASCII characters, "
                + "percent-encoded where needed)";
        Map<HealthCheck, String> bad = new LinkedHashMap<>();
        bad.put(check("udp", null, null), at + "protocol: 'udp' (expected: tcp, http, https or tls)");
        bad.put(check("http", "healthz", null), at + "path: 'healthz' " + path);
        bad.put(check("http", "/a b", null), at + "path: contains whitespace, control or non-ASCII characters " + path);
        bad.put(
                check("http", "/\u001b[2J", null),
                at + "path: contains whitespace, control or non-ASCII characters " + path);
        bad.put(check("https", "/" + "a".repeat(1024), null), at + "path: 1025 characters " + path);
        bad.put(
                check("tcp", "/", null),
                at + "path: given (expected: none for a tcp check; only http and https checks request a path)");
        bad.put(
                check("tls", null, "200"),
                at + "matcher: given (expected: none for a tls check; only http and https checks match a status)");
        bad.put(check("http", null, "2xx"), at + "matcher: '2xx' " + codes);
        bad.put(check("http", null, "200,"), at + "matcher: '200,' " + codes);
        bad.put(check("http", null, "200 - 299"), at + "matcher: '200 - 299' " + codes);
        bad.put(check("http", null, "200,099"), at + "matcher: '200,099' has '099' " + codes);
        bad.put(check("http", null, "200-600"), at + "matcher: '200-600' has '200-600' " + codes);
        bad.put(check("http", null, "399-200"), at + "matcher: '399-200' has '399-200' " + codes);
        bad.put(
                check("http", null, "200," + "201,".repeat(32) + "202"),
                at + "matcher: 135 characters (expected: at most 128)");
        bad.put(timing(0, null, null, null), at + "intervalSeconds: 0 (expected: 1-300)");
        bad.put(timing(301, 5, null, null), at + "intervalSeconds: 301 (expected: 1-300)");
        bad.put(timing(null, 0, null, null), at + "timeoutSeconds: 0 (expected: 1-120)");
        bad.put(timing(300, 121, null, null), at + "timeoutSeconds: 121 (expected: 1-120)");
        bad.put(timing(5, 6, null, null), at + "timeoutSeconds: 6 (expected: at most intervalSeconds, 5)");
        bad.put(timing(null, null, 0, null), at + "healthyThreshold: 0 (expected: 1-10)");
        bad.put(timing(null, null, 11, null), at + "healthyThreshold: 11 (expected: 1-10)");
        bad.put(timing(null, null, null, 0), at + "unhealthyThreshold: 0 (expected: 1-10)");
        bad.put(timing(null, null, null, 11), at + "unhealthyThreshold: 11 (expected: 1-10)");
        bad.forEach((check, error) -> {
            assertThatThrownBy(() -> create("new", check)).as(error).isInstanceOfSatisfying(Refused.class, e -> {
                assertThat(status(e)).isEqualTo(400);
                assertThat(e.errors()).containsExactly(error);
            });
            assertThatThrownBy(() -> f.cp.services()
                            .update(
                                    acme,
                                    "existing",
                                    new Services.UpdateRequest(
                                            "changed",
                                            List.of(listener(443, check, "x.internal:443")),
                                            null,
                                            null,
                                            null)))
                    .as(error)
                    .isInstanceOfSatisfying(
                            Refused.class, e -> assertThat(e.errors()).containsExactly(error));
        });

        // Every error of one request at once, with the other fields' errors, as the rest of the API does.
        assertThatThrownBy(() -> f.cp.services()
                        .create(
                                acme,
                                new Services.CreateRequest(
                                        "new",
                                        null,
                                        List.of(
                                                listener(443, null, "x.internal:443"),
                                                listener(
                                                        80,
                                                        new HealthCheck("ftp", null, null, 0, null, null, null),
                                                        "x.internal:80")),
                                        null,
                                        null,
                                        null,
                                        "random",
                                        "failSafe")))
                .isInstanceOfSatisfying(
                        Refused.class,
                        e -> assertThat(e.errors())
                                .containsExactly(
                                        "listeners[1].healthCheck.protocol: 'ftp' (expected: tcp, http, https or tls)",
                                        "listeners[1].healthCheck.intervalSeconds: 0 (expected: 1-300)",
                                        "loadBalancing: 'random' (expected: leastOutstanding or roundRobin)",
                                        "whenAllUnhealthy: 'failSafe' (expected: failOpen or failClosed)"));
        assertThatThrownBy(() -> f.cp.services()
                        .update(
                                acme,
                                "existing",
                                new Services.UpdateRequest(null, null, null, null, null, "leastConnections", null)))
                .isInstanceOfSatisfying(
                        Refused.class,
                        e -> assertThat(e.errors())
                                .containsExactly(
                                        "loadBalancing: 'leastConnections' (expected: leastOutstanding or roundRobin)"));
        assertThatThrownBy(() -> f.cp.services()
                        .update(
                                acme,
                                "existing",
                                new Services.UpdateRequest(null, null, null, null, null, null, "FAILOPEN")))
                .isInstanceOfSatisfying(
                        Refused.class,
                        e -> assertThat(e.errors())
                                .containsExactly("whenAllUnhealthy: 'FAILOPEN' (expected: failOpen or failClosed)"));

        assertThat(f.cp.services()
                        .list(acme, new Page.Request(Page.MAX_LIMIT, 0))
                        .items())
                .containsExactly(before);
        assertThat(f.cp.services().healthChecks("acme"))
                .extracting(Services.TargetCheck::check)
                .containsExactly(new HealthCheck("http", "/ok", "200-399", 10, 5, 3, 2));
    }

    @Test
    void anUpdatesListenersReplaceTheChecksAndTheSettingsStayUnlessGiven() {
        f.cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "git",
                                null,
                                List.of(
                                        listener(
                                                443,
                                                new HealthCheck("https", "/status", "200", 5, 2, 2, 3),
                                                "git.internal:443"),
                                        listener(
                                                22,
                                                new HealthCheck("tcp", null, null, 30, null, null, null),
                                                "git.internal:22")),
                                null,
                                null,
                                null,
                                "roundRobin",
                                "failClosed"));

        Services.View described =
                f.cp.services().update(acme, "git", new Services.UpdateRequest("the source", null, null, null, null));
        assertThat(described.listeners())
                .extracting(Services.Listener::healthCheck)
                .containsExactly(
                        new HealthCheck("tcp", null, null, 30, 5, 3, 2),
                        new HealthCheck("https", "/status", "200", 5, 2, 2, 3));
        assertThat(described.loadBalancing().text()).isEqualTo("roundRobin");
        assertThat(described.whenAllUnhealthy().text()).isEqualTo("failClosed");

        Services.View replaced = f.cp.services()
                .update(
                        acme,
                        "git",
                        new Services.UpdateRequest(
                                null,
                                List.of(
                                        listener(443, null, "git.internal:443"),
                                        listener(
                                                8443,
                                                new HealthCheck("tls", null, null, null, null, null, null),
                                                "git.internal:8443")),
                                null,
                                null,
                                null,
                                null,
                                "failOpen"));
        assertThat(replaced.listeners())
                .extracting(Services.Listener::port, Services.Listener::healthCheck)
                .containsExactly(tuple(443, DEFAULT), tuple(8443, new HealthCheck("tls", null, null, 10, 5, 3, 2)));
        assertThat(replaced.loadBalancing().text()).isEqualTo("roundRobin");
        assertThat(replaced.whenAllUnhealthy().text()).isEqualTo("failOpen");
        assertThat(f.cp.services().get(acme, "git")).isEqualTo(replaced);
        assertThat(f.cp.services().healthChecks("acme"))
                .extracting(Services.TargetCheck::id)
                .containsExactly("git:443/git.internal:443", "git:8443/git.internal:8443");
    }

    @Test
    void theGatewayReadsEveryTargetOfAnAccountWithItsCheck() {
        HealthCheck http = new HealthCheck("http", "/healthz", null, null, null, null, null);
        f.cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "web",
                                null,
                                List.of(
                                        listener(80, http, "web1.internal:80", "web2.internal:80", "web1.internal:80"),
                                        listener(22, null, "web1.internal:22")),
                                null,
                                null,
                                null));
        create("db", new HealthCheck("tcp", null, null, 60, null, null, null));
        Principal globex = f.as(f.account("globex"));
        f.service(globex, "other", false);

        assertThat(f.cp.services().healthChecks("acme"))
                .containsExactly(
                        new Services.TargetCheck(
                                "db:443/db.internal:443",
                                "db",
                                443,
                                "db.internal:443",
                                new HealthCheck("tcp", null, null, 60, 5, 3, 2)),
                        new Services.TargetCheck("web:22/web1.internal:22", "web", 22, "web1.internal:22", DEFAULT),
                        new Services.TargetCheck(
                                "web:80/web1.internal:80",
                                "web",
                                80,
                                "web1.internal:80",
                                new HealthCheck("http", "/healthz", "200-399", 10, 5, 3, 2)),
                        new Services.TargetCheck(
                                "web:80/web2.internal:80",
                                "web",
                                80,
                                "web2.internal:80",
                                new HealthCheck("http", "/healthz", "200-399", 10, 5, 3, 2)));
        assertThat(f.cp.services().healthChecks("globex"))
                .extracting(Services.TargetCheck::id)
                .containsExactly("other:443/other.internal:443");
        assertThat(f.cp.services().healthChecks("nobody")).isEmpty();
    }

    @Test
    void listeningCarriesTheChecksPerPortAndTheServicesSettings() {
        f.cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "git",
                                null,
                                List.of(
                                        listener(
                                                443,
                                                new HealthCheck("https", null, "200", null, null, null, null),
                                                "git.internal:443"),
                                        listener(22, null, "git.internal:22")),
                                List.of("globex"),
                                false,
                                null,
                                "roundRobin",
                                null));
        Principal globex = f.as(f.account("globex"));
        String id = f.cp.endpoints()
                .create(globex, new Endpoints.CreateRequest("acme/git"))
                .id();

        Endpoints.Listening l = f.cp.endpoints().listening().getFirst();
        assertThat(l.id()).isEqualTo(id);
        assertThat(l.targets()).isEqualTo(Map.of(22, List.of("git.internal:22"), 443, List.of("git.internal:443")));
        assertThat(l.healthChecks())
                .isEqualTo(Map.of(22, DEFAULT, 443, new HealthCheck("https", "/", "200", 10, 5, 3, 2)));
        assertThat(l.loadBalancing().text()).isEqualTo("roundRobin");
        assertThat(l.whenAllUnhealthy().text()).isEqualTo("failOpen");
    }
}
