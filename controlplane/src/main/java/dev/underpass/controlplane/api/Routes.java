package dev.underpass.controlplane.api;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.controlplane.tenancy.Users;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/** The REST API: each route and the control-plane operation behind it. Documented in {@code openapi.yaml}. */
final class Routes {
    /** The OpenAPI document, served as it is. */
    static final String OPENAPI_RESOURCE = "/dev/underpass/controlplane/api/openapi.yaml";

    /** Who the caller is, as {@code GET /v1/whoami} shows it. */
    record Whoami(String account, boolean operator, String user, Role role, List<Scope> scopes, String apiKeyId) {
        static Whoami of(Principal p) {
            return new Whoami(
                    p.account(),
                    p.operator(),
                    p.user(),
                    p.role(),
                    p.scopes().stream().sorted().toList(),
                    p.keyId());
        }
    }

    /**
     * Seconds a client waits before asking again for what the gateway has not published yet: it
     * publishes right after binding its proxy, a moment after the API starts answering.
     */
    static final int GATEWAY_INFO_RETRY_SECONDS = 1;

    /** A body that is not JSON. */
    record Raw(String contentType, byte[] bytes) {}

    private Routes() {}

    static Router of(ControlPlane cp) {
        Router r = new Router();
        byte[] openapi = load(OPENAPI_RESOURCE);
        r.addPublic("GET", "/v1/openapi.yaml", c -> new Raw("application/yaml", openapi));
        r.add("GET", "/v1/whoami", 200, c -> Whoami.of(c.principal()));
        r.add(
                "GET",
                "/v1/gateway",
                200,
                c -> cp.gatewayInfo()
                        .orElseThrow(() -> new ApiException(
                                503,
                                "the gateway has not published its proxy address yet (it is still starting, or no forward proxy runs with "
                                        + "this API); retry in a moment",
                                List.of(),
                                Map.of("retry-after", String.valueOf(GATEWAY_INFO_RETRY_SECONDS)))));

        r.add("GET", "/v1/nodes", 200, c -> cp.nodes().list(c.principal()));
        r.add("GET", "/v1/accounts", 200, c -> cp.accounts().list(c.principal(), c.page()));
        r.add(
                "POST",
                "/v1/accounts",
                201,
                c -> cp.accounts().create(c.principal(), c.body(Accounts.CreateRequest.class)));

        r.add("GET", "/v1/users", 200, c -> cp.users().list(c.principal(), c.page()));
        r.add("POST", "/v1/users", 201, c -> cp.users().create(c.principal(), c.body(Users.CreateRequest.class)));
        r.add(
                "PATCH",
                "/v1/users/{name}",
                200,
                c -> cp.users().update(c.principal(), c.path("name"), c.body(Users.UpdateRequest.class)));
        r.add("DELETE", "/v1/users/{name}", 204, c -> {
            cp.users().delete(c.principal(), c.path("name"));
            return null;
        });

        r.add("GET", "/v1/api-keys", 200, c -> cp.apiKeys().list(c.principal(), c.page()));
        r.add(
                "POST",
                "/v1/api-keys",
                201,
                c -> cp.apiKeys().create(c.principal(), c.body(ApiKeys.CreateRequest.class)));
        r.add(
                "POST",
                "/v1/api-keys/{id}/rotate",
                201,
                c -> cp.apiKeys().rotate(c.principal(), c.path("id"), c.body(ApiKeys.RotateRequest.class)));
        r.add("DELETE", "/v1/api-keys/{id}", 200, c -> cp.apiKeys().revoke(c.principal(), c.path("id")));

        r.add("GET", "/v1/agent-tokens", 200, c -> cp.agentTokens().list(c.principal(), c.page()));
        r.add(
                "POST",
                "/v1/agent-tokens",
                201,
                c -> cp.agentTokens().create(c.principal(), c.body(AgentTokens.CreateRequest.class)));
        r.add(
                "POST",
                "/v1/agent-tokens/{id}/rotate",
                201,
                c -> cp.agentTokens().rotate(c.principal(), c.path("id"), c.body(ApiKeys.RotateRequest.class)));
        r.add("DELETE", "/v1/agent-tokens/{id}", 200, c -> cp.agentTokens().revoke(c.principal(), c.path("id")));

        r.add("GET", "/v1/services", 200, c -> cp.services().list(c.principal(), c.page()));
        r.add(
                "POST",
                "/v1/services",
                201,
                c -> cp.services().create(c.principal(), c.body(Services.CreateRequest.class)));
        r.add("GET", "/v1/services/{name}", 200, c -> cp.services().get(c.principal(), c.path("name")));
        r.add(
                "PATCH",
                "/v1/services/{name}",
                200,
                c -> cp.services().update(c.principal(), c.path("name"), c.body(Services.UpdateRequest.class)));
        r.add("DELETE", "/v1/services/{name}", 204, c -> {
            cp.services().delete(c.principal(), c.path("name"));
            return null;
        });
        r.add(
                "POST",
                "/v1/services/{name}/verify-private-dns",
                200,
                c -> cp.privateNameVerification().verify(c.principal(), c.path("name")));
        r.add(
                "GET",
                "/v1/services/{name}/health",
                200,
                c -> cp.services().health(c.principal(), c.path("name"), cp.healthReports()));
        r.add("GET", "/v1/service-offers", 200, c -> cp.services().offers(c.principal(), c.page()));

        r.add(
                "GET",
                "/v1/endpoints",
                200,
                c -> cp.endpoints()
                        .list(
                                c.principal(),
                                new Endpoints.Filter(
                                        c.query("side"),
                                        c.query("state") == null ? null : EndpointState.parse(c.query("state")),
                                        c.query("service")),
                                c.page()));
        r.add(
                "POST",
                "/v1/endpoints",
                201,
                c -> cp.endpoints().create(c.principal(), c.body(Endpoints.CreateRequest.class)));
        r.add("GET", "/v1/endpoints/{id}", 200, c -> cp.endpoints().get(c.principal(), c.path("id")));
        r.add(
                "GET",
                "/v1/endpoints/{id}/diagnosis",
                200,
                c -> cp.endpoints().diagnose(c.principal(), c.path("id"), cp.agentPresence(), cp.healthReports()));
        r.add(
                "GET",
                "/v1/endpoints/{id}/agent-listeners",
                200,
                c -> cp.endpoints().agentListeners(c.principal(), c.path("id"), cp.agentListeners()));
        r.add(
                "POST",
                "/v1/endpoints/{id}/accept",
                200,
                c -> cp.endpoints().accept(c.principal(), c.path("id"), c.body(Endpoints.DecisionRequest.class)));
        r.add(
                "POST",
                "/v1/endpoints/{id}/reject",
                200,
                c -> cp.endpoints().reject(c.principal(), c.path("id"), c.body(Endpoints.DecisionRequest.class)));
        r.add("DELETE", "/v1/endpoints/{id}", 200, c -> cp.endpoints().delete(c.principal(), c.path("id")));
        // Mutual-TLS enrollment of agents (ADR 0015): agent credentials, so the agent-token scopes.
        r.add("GET", "/v1/agent-enrollments", 200, c -> cp.agentEnrollments().list(c.principal(), c.page()));
        r.add(
                "POST",
                "/v1/agent-enrollments",
                201,
                c -> cp.agentEnrollments()
                        .create(
                                c.principal(),
                                c.body(dev.underpass.controlplane.credential.AgentEnrollments.CreateRequest.class)));
        r.add("DELETE", "/v1/agent-enrollments/{id}", 204, c -> {
            cp.agentEnrollments().delete(c.principal(), c.path("id"));
            return null;
        });
        r.add("GET", "/v1/agent-certificates", 200, c -> cp.agentEnrollments().certificates(c.principal(), c.page()));
        r.add(
                "DELETE",
                "/v1/agent-certificates/{id}",
                200,
                c -> cp.agentEnrollments().revokeCertificate(c.principal(), c.path("id")));
        // OIDC workload identity of agents (ADR 0013): bindings of an operator-trusted issuer and subject to the
        // account.
        r.add("GET", "/v1/agent-identities", 200, c -> cp.agentIdentities().list(c.principal(), c.page()));
        r.add(
                "POST",
                "/v1/agent-identities",
                201,
                c -> cp.agentIdentities()
                        .create(
                                c.principal(),
                                c.body(dev.underpass.controlplane.credential.AgentIdentities.CreateRequest.class)));
        r.add(
                "DELETE",
                "/v1/agent-identities/{id}",
                200,
                c -> cp.agentIdentities().delete(c.principal(), c.path("id")));
        // The audit log (ADR 0014): the caller's account's chain; only the operator account may name another.
        r.add(
                "GET",
                "/v1/audit-events",
                200,
                c -> cp.audit()
                        .events()
                        .list(
                                c.principal(),
                                c.query("account"),
                                dev.underpass.controlplane.audit.AuditEvents.Filter.parse(
                                        c.query("since"), c.query("until"), c.query("action"), c.query("target")),
                                c.page()));
        r.add(
                "GET",
                "/v1/audit-events/verify",
                200,
                c -> cp.audit().events().verify(c.principal(), c.query("account")));
        return r;
    }

    private static byte[] load(String resource) {
        try (InputStream in = Routes.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
