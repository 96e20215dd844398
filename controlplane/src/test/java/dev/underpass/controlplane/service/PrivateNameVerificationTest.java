package dev.underpass.controlplane.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.core.Page;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import dev.underpass.controlplane.tenancy.Accounts;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Private DNS names are verified against a real DNS server: only a name whose TXT record carries
 * the service's verification value is given to consumers.
 */
class PrivateNameVerificationTest {
    TxtServer dns;
    Store store;
    ControlPlane cp;
    Principal acme;
    Principal platform;

    @BeforeEach
    void start() throws Exception {
        dns = new TxtServer();
        store = Store.open(StoreConfig.inMemory("dns-" + UUID.randomUUID()));
        cp = new ControlPlane(
                store,
                new ControlPlane.Settings(
                        ControlPlane.Settings.DEFAULT_DOMAIN,
                        "127.0.0.1",
                        ControlPlane.Settings.DEFAULT_REQUEST_TTL,
                        dns.address()),
                Clock.systemUTC(),
                PrivateNameVerification.jndi(dns.address()));
        Principal operator = cp.apiKeys()
                .authenticate(cp.accounts().bootstrap().orElseThrow().ownerKey().key());
        acme = cp.apiKeys()
                .authenticate(cp.accounts()
                        .create(operator, new Accounts.CreateRequest("acme", null))
                        .ownerKey()
                        .key());
        platform = cp.apiKeys()
                .authenticate(cp.accounts()
                        .create(operator, new Accounts.CreateRequest("platform", null))
                        .ownerKey()
                        .key());
    }

    @AfterEach
    void stop() {
        store.close();
        dns.close();
    }

    @Test
    void aNameIsVerifiedOnlyByItsTxtRecordAndOnlyThenGivenToConsumers() {
        Services.View v = cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "git",
                                null,
                                List.of(new Services.Listener("tcp", 443, List.of("git.internal:443"))),
                                List.of("platform"),
                                false,
                                "Git.Acme.Example"));
        assertThat(v.privateDns().name()).isEqualTo("git.acme.example");
        assertThat(v.privateDns().state().text()).isEqualTo("pendingVerification");
        assertThat(v.privateDns().verificationRecord()).isEqualTo("_underpass-verification.git.acme.example");
        String expected = v.privateDns().verificationValue();
        assertThat(expected).startsWith("underpass-verification=");
        String endpoint = cp.endpoints()
                .create(platform, new Endpoints.CreateRequest("acme/git"))
                .id();

        PrivateNameVerification.Result missing = cp.privateNameVerification().verify(acme, "git");
        assertThat(missing.state().text()).isEqualTo("failed");
        assertThat(missing.detail())
                .contains("_underpass-verification.git.acme.example")
                .contains(expected);

        dns.put(
                "_underpass-verification.git.acme.example",
                List.of("some-other-vendor=abc", "underpass-verification=wrong"));
        PrivateNameVerification.Result wrong = cp.privateNameVerification().verify(acme, "git");
        assertThat(wrong.state().text()).isEqualTo("failed");
        assertThat(wrong.detail()).contains("2 value(s), none the expected one");
        assertThat(cp.endpoints().get(platform, endpoint).dnsNames()).doesNotContain("git.acme.example");
        assertThat(cp.services()
                        .offers(platform, Page.Request.first())
                        .items()
                        .getFirst()
                        .privateDnsName())
                .isNull();

        dns.put("_underpass-verification.git.acme.example", List.of("some-other-vendor=abc", expected));
        PrivateNameVerification.Result ok = cp.privateNameVerification().verify(acme, "git");
        assertThat(ok.state().text()).isEqualTo("verified");
        assertThat(cp.services().get(acme, "git").privateDns().state().text()).isEqualTo("verified");
        assertThat(cp.endpoints().get(platform, endpoint).dnsNames())
                .containsExactly(endpoint + ".git.acme." + ControlPlane.Settings.DEFAULT_DOMAIN, "git.acme.example");
        assertThat(cp.services()
                        .offers(platform, Page.Request.first())
                        .items()
                        .getFirst()
                        .privateDnsName())
                .isEqualTo("git.acme.example");

        // A new name starts over, unverified.
        cp.services().update(acme, "git", new Services.UpdateRequest(null, null, null, null, "git2.acme.example"));
        assertThat(cp.services().get(acme, "git").privateDns().state().text()).isEqualTo("pendingVerification");
        assertThat(cp.endpoints().get(platform, endpoint).dnsNames()).doesNotContain("git2.acme.example");
    }

    @Test
    void verificationNeedsANameAndTheServicesWriteScope() {
        cp.services()
                .create(
                        acme,
                        new Services.CreateRequest(
                                "db",
                                null,
                                List.of(new Services.Listener("tcp", 5432, List.of("db.internal:5432"))),
                                List.of(),
                                true,
                                null));
        assertThatThrownBy(() -> cp.privateNameVerification().verify(acme, "db"))
                .isInstanceOf(Refused.class)
                .hasMessageContaining("has no private DNS name");
        assertThatThrownBy(() -> cp.privateNameVerification().verify(platform, "db"))
                .isInstanceOf(Refused.class)
                .hasMessageContaining("does not exist in your account");
    }
}
