package dev.underpass.controlplane;

import dev.underpass.controlplane.audit.AuditLog;
import dev.underpass.controlplane.cluster.Nodes;
import dev.underpass.controlplane.credential.AgentEnrollments;
import dev.underpass.controlplane.credential.AgentIdentities;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.credential.ConsoleSessions;
import dev.underpass.controlplane.endpoint.AgentListenerViews;
import dev.underpass.controlplane.endpoint.AgentPresence;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.PrivateNameVerification;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.controlplane.tenancy.OidcLogins;
import dev.underpass.controlplane.tenancy.Users;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The control plane: every operation on accounts, credentials, endpoint services and endpoints,
 * each checked against the calling principal. The REST API and the gateway's data plane both
 * work through it; listeners added with {@link #onEndpointChange} hear of every change that
 * may open or close an endpoint's listeners.
 */
public final class ControlPlane {
    /** How endpoints are named and reached, and how long a connection request waits. */
    public record Settings(String endpointDomain, String endpointHost, Duration requestTtl, String dnsServer) {
        public static final String DEFAULT_DOMAIN = "endpoints.underpass.internal";
        public static final Duration DEFAULT_REQUEST_TTL = Duration.ofDays(7);
    }

    /**
     * What the gateway's data plane gives the control plane, passed in when both are built: how to
     * count the live agent sessions that serve targets and read their health reports (endpoint
     * diagnosis, service health), and whom to tell of a revoked or deleted credential, with its id,
     * so that its live sessions end. {@link #NONE} without a gateway (tests, tools).
     */
    public record DataPlane(
            AgentPresence presence,
            HealthReports health,
            Consumer<String> credentialRevoked,
            AgentListenerViews listeners) {
        public static final DataPlane NONE = new DataPlane(null, HealthReports.NONE, id -> {});

        public DataPlane {
            Objects.requireNonNull(health, "health");
            Objects.requireNonNull(credentialRevoked, "credentialRevoked");
            Objects.requireNonNull(listeners, "listeners");
        }

        /** A data plane without agent listeners. */
        public DataPlane(AgentPresence presence, HealthReports health, Consumer<String> credentialRevoked) {
            this(presence, health, credentialRevoked, AgentListenerViews.NONE);
        }
    }

    /**
     * The OIDC trust the operator configured, fixed when the control plane is built: the issuers
     * whose JWTs agents may authenticate with ({@code oidcIssuers}; agent identities may name only
     * these), and the check of users' JWTs for OIDC login ({@code oidcUsers}), null when login is
     * off. {@link #NONE}: no issuer trusted, no OIDC login.
     */
    public record Oidc(Set<String> agentIssuers, OidcLogins.Verifier userLogins) {
        public static final Oidc NONE = new Oidc(Set.of(), null);

        public Oidc {
            agentIssuers = Set.copyOf(agentIssuers);
        }
    }

    private final List<Runnable> endpointListeners = new CopyOnWriteArrayList<>();
    private final DataPlane dataPlane;
    private final Accounts accounts;
    private final Users users;
    private final ApiKeys apiKeys;
    private final ConsoleSessions consoleSessions;
    private final AgentTokens agentTokens;
    private final AgentIdentities agentIdentities;
    private final OidcLogins oidcLogins;
    private final AgentEnrollments agentEnrollments;
    private final Services services;
    private final Endpoints endpoints;
    private final PrivateNameVerification privateDns;
    private final Settings settings;
    private final AuthFailures authFailures;
    private final AuditLog audit;
    private final Nodes nodes;
    /** Published by the gateway once its proxy is bound; read by API threads. */
    private volatile GatewayInfo gatewayInfo;

    public ControlPlane(Store store, Settings settings, Clock clock, PrivateNameVerification.TxtLookup txt) {
        this(store, settings, clock, txt, new AuthFailures());
    }

    /** With {@code authFailures}: the limits on failed authentication attempts (see {@link AuthFailures}). */
    public ControlPlane(
            Store store,
            Settings settings,
            Clock clock,
            PrivateNameVerification.TxtLookup txt,
            AuthFailures authFailures) {
        this(store, settings, clock, txt, authFailures, DataPlane.NONE, Oidc.NONE);
    }

    /**
     * With the gateway's {@code dataPlane} (what it tells the control plane and is told by it) and
     * the {@code oidc} trust the operator configured.
     */
    public ControlPlane(
            Store store,
            Settings settings,
            Clock clock,
            PrivateNameVerification.TxtLookup txt,
            AuthFailures authFailures,
            DataPlane dataPlane,
            Oidc oidc) {
        Objects.requireNonNull(oidc, "oidc");
        this.dataPlane = Objects.requireNonNull(dataPlane, "dataPlane");
        Consumer<String> revoked = dataPlane.credentialRevoked();
        var jdbi = store.jdbi();
        Runnable changed = () -> endpointListeners.forEach(Runnable::run);
        this.settings = settings;
        this.authFailures = Objects.requireNonNull(authFailures, "authFailures");
        this.audit = new AuditLog(jdbi, clock);
        this.nodes = new Nodes(jdbi);
        this.apiKeys = new ApiKeys(jdbi, clock, authFailures, audit);
        this.consoleSessions = new ConsoleSessions(jdbi, clock, apiKeys);
        this.accounts = new Accounts(jdbi, clock, apiKeys, audit);
        this.users = new Users(jdbi, clock, audit);
        this.agentTokens = new AgentTokens(jdbi, clock, revoked, authFailures, audit);
        this.services = new Services(jdbi, clock, changed, audit);
        this.endpoints = new Endpoints(jdbi, clock, changed, settings.endpointDomain(), settings.endpointHost(), audit);
        this.privateDns = new PrivateNameVerification(services, txt);
        this.oidcLogins = new OidcLogins(jdbi, authFailures, oidc.userLogins());
        // A deleted identity ends its sessions as a revoked token does, told its wid- id.
        this.agentIdentities = new AgentIdentities(jdbi, clock, revoked, audit, oidc.agentIssuers());
        this.agentEnrollments = new AgentEnrollments(jdbi, clock, revoked, authFailures, audit);
    }

    public ControlPlane(Store store, Settings settings) {
        this(store, settings, Clock.systemUTC(), PrivateNameVerification.jndi(settings.dnsServer()));
    }

    /**
     * Subscribes {@code r} to every change that may open or close endpoint ports (an observer of
     * changes, as the gateway's provisioner and health-check push are; not a collaborator).
     */
    public void onEndpointChange(Runnable r) {
        endpointListeners.add(r);
    }

    /** The gateway nodes that share the store. */
    public Nodes nodes() {
        return nodes;
    }

    public Accounts accounts() {
        return accounts;
    }

    public Users users() {
        return users;
    }

    public ApiKeys apiKeys() {
        return apiKeys;
    }

    /** Web console sign-ins: sessions that act as the API key they signed in with. */
    public ConsoleSessions consoleSessions() {
        return consoleSessions;
    }

    public AgentTokens agentTokens() {
        return agentTokens;
    }

    /** Mutual-TLS enrollment: one-time enrollment tokens and the agent certificates they gave. */
    public AgentEnrollments agentEnrollments() {
        return agentEnrollments;
    }

    /** Agent identities: OIDC workload identity bindings that agents authenticate with instead of a token. */
    public AgentIdentities agentIdentities() {
        return agentIdentities;
    }

    /** OIDC login for API users; off unless the control plane was built with a verifier ({@code oidcUsers}). */
    public OidcLogins oidcLogins() {
        return oidcLogins;
    }

    public Services services() {
        return services;
    }

    public Endpoints endpoints() {
        return endpoints;
    }

    /** The verification of services' private DNS names (a TXT lookup; not the gateway's DNS server). */
    public PrivateNameVerification privateNameVerification() {
        return privateDns;
    }

    /** The audit log: every change is recorded through it, in the change's own transaction. */
    public AuditLog audit() {
        return audit;
    }

    /** The limits on failed authentication attempts that API keys and agent tokens are checked within. */
    public AuthFailures authFailures() {
        return authFailures;
    }

    public Settings settings() {
        return settings;
    }

    /** How to count the gateway's live agent sessions (endpoint diagnosis); empty without a gateway. */
    public Optional<AgentPresence> agentPresence() {
        return Optional.ofNullable(dataPlane.presence());
    }

    /** What the gateway's agents report, or {@link HealthReports#NONE} when no gateway runs this control plane. */
    public HealthReports healthReports() {
        return dataPlane.health();
    }

    /** Which agents of an endpoint's consumer listen for it (bidirectional). */
    public AgentListenerViews agentListeners() {
        return dataPlane.listeners();
    }

    /** Publishes where clients reach this gateway; the gateway calls it once its proxy is bound. */
    public void gatewayInfo(GatewayInfo info) {
        this.gatewayInfo = Objects.requireNonNull(info, "info");
    }

    /** What the gateway published, or empty while it is still starting (or when no gateway runs this control plane). */
    public Optional<GatewayInfo> gatewayInfo() {
        return Optional.ofNullable(gatewayInfo);
    }
}
