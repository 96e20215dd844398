package dev.underpass.controlplane;

import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.controlplane.service.HealthReports;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.controlplane.tenancy.Accounts;
import dev.underpass.controlplane.tenancy.Users;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A control plane on a real store, with its operator and short ways to make accounts, users and
 * services. TXT records for private DNS verification are whatever a test puts in {@link #txt}.
 */
public final class ControlPlaneFixture implements AutoCloseable {
    public static final ControlPlane.Settings SETTINGS = new ControlPlane.Settings(
            ControlPlane.Settings.DEFAULT_DOMAIN, "gw.test", ControlPlane.Settings.DEFAULT_REQUEST_TTL, null);

    public final StoreConfig config;
    public final TestClock clock;
    public final Map<String, List<String>> txt;
    public final Store store;
    public final ControlPlane cp;
    /** The operator owner's first key, as bootstrap showed it. */
    public final String operatorKey;

    public final Principal operator;
    /** How often the control plane told its listeners that endpoints changed. */
    public final AtomicInteger endpointChanges = new AtomicInteger();
    /** What a fake gateway's agents report (service health): tests set it. */
    public final AtomicReference<HealthReports> healthReports = new AtomicReference<>(HealthReports.NONE);

    /** The limits on failed authentication attempts the control plane checks API keys and agent tokens within. */
    public final AuthFailures authFailures;
    /** The OIDC trust the control plane was built with. */
    public final ControlPlane.Oidc oidc;

    private ControlPlaneFixture(
            StoreConfig config,
            TestClock clock,
            Map<String, List<String>> txt,
            String operatorKey,
            AuthFailures authFailures,
            ControlPlane.Oidc oidc) {
        this.config = config;
        this.clock = clock;
        this.txt = txt;
        this.authFailures = authFailures;
        this.oidc = oidc;
        this.store = Store.open(config);
        try {
            this.cp = new ControlPlane(
                    store,
                    SETTINGS,
                    clock,
                    name -> txt.getOrDefault(name, List.of()),
                    authFailures,
                    new ControlPlane.DataPlane(
                            null, (account, checkId) -> healthReports.get().of(account, checkId), id -> {}),
                    oidc);
            cp.onEndpointChange(endpointChanges::incrementAndGet);
            this.operatorKey = operatorKey != null
                    ? operatorKey
                    : cp.accounts().bootstrap().orElseThrow().ownerKey().key();
            this.operator = cp.apiKeys().authenticate(this.operatorKey);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** Opens a store on a fresh database and bootstraps the operator. */
    public static ControlPlaneFixture open(StoreConfig config) {
        return open(config, new AuthFailures());
    }

    /** As {@link #open(StoreConfig)}, with these limits on failed authentication attempts. */
    public static ControlPlaneFixture open(StoreConfig config, AuthFailures authFailures) {
        return open(config, authFailures, ControlPlane.Oidc.NONE);
    }

    /** As {@link #open(StoreConfig, AuthFailures)}, trusting {@code oidc}. */
    public static ControlPlaneFixture open(StoreConfig config, AuthFailures authFailures, ControlPlane.Oidc oidc) {
        return new ControlPlaneFixture(config, new TestClock(), new ConcurrentHashMap<>(), null, authFailures, oidc);
    }

    /** Closes this store and opens the same database again, with the same clock and TXT records. */
    public ControlPlaneFixture reopen() {
        close();
        return new ControlPlaneFixture(config, clock, txt, operatorKey, authFailures, oidc);
    }

    /** A new account created by the operator; returns its owner's first key. */
    public String account(String name) {
        return cp.accounts()
                .create(operator, new Accounts.CreateRequest(name, null))
                .ownerKey()
                .key();
    }

    public Principal as(String key) {
        return cp.apiKeys().authenticate(key);
    }

    /** A new user of {@code admin}'s account with {@code role}; returns the user's first key. */
    public String user(Principal admin, String name, Role role) {
        cp.users().create(admin, new Users.CreateRequest(name, role));
        return cp.apiKeys()
                .create(admin, new ApiKeys.CreateRequest("key-" + name, name, null, null))
                .key();
    }

    /** A one-port service (443 to {@code name}.internal:443) of {@code p}'s account. */
    public Services.View service(Principal p, String name, boolean acceptanceRequired, String... allowed) {
        return cp.services()
                .create(
                        p,
                        new Services.CreateRequest(
                                name,
                                null,
                                List.of(new Services.Listener("tcp", 443, List.of(name + ".internal:443"))),
                                List.of(allowed),
                                acceptanceRequired,
                                null));
    }

    @Override
    public void close() {
        store.close();
    }
}
