package dev.underpass.controlplane.tenancy;

import static dev.underpass.controlplane.api.ProblemMapper.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Refused;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.core.Scope;
import dev.underpass.controlplane.credential.ApiKeys;
import dev.underpass.controlplane.service.Services;
import dev.underpass.controlplane.store.StoreConfig;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A key narrowed by scopes stays narrow: it cannot widen itself through users, roles or a
 * private DNS verification raced against a name change.
 */
class GrantsTest {
    ControlPlaneFixture f;
    Principal owner;

    @BeforeEach
    void open() {
        f = ControlPlaneFixture.open(StoreConfig.inMemory("grants-" + UUID.randomUUID()));
        owner = f.as(f.account("acme"));
    }

    @AfterEach
    void close() {
        f.close();
    }

    @Test
    void aNarrowedAdminKeyCannotGrantARoleWithScopesItLacks() {
        f.cp.users().create(owner, new Users.CreateRequest("ann", Role.ADMIN));
        List<Scope> narrow = new ArrayList<>(Role.VIEWER.scopes(false));
        narrow.addAll(List.of(Scope.USERS_WRITE, Scope.KEYS_WRITE));
        Principal ann = f.as(f.cp.apiKeys()
                .create(owner, new ApiKeys.CreateRequest("narrow", "ann", narrow, null))
                .key());

        f.cp.users().create(ann, new Users.CreateRequest("vic", Role.VIEWER)); // within the key's scopes
        String vicKey = f.cp.apiKeys()
                .create(ann, new ApiKeys.CreateRequest("vic-key", "vic", null, null))
                .key();

        assertThatThrownBy(() -> f.cp.users().update(ann, "vic", new Users.UpdateRequest(Role.ADMIN)))
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(403))
                .hasMessageContaining("does not have");
        assertThatThrownBy(() -> f.cp.users().create(ann, new Users.CreateRequest("max", Role.MEMBER)))
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(403));
        Principal vic = f.as(vicKey);
        assertThat(vic.role()).as("vic is still a viewer").isEqualTo(Role.VIEWER);
        assertThat(vic.scopes()).isEqualTo(EnumSet.copyOf(Role.VIEWER.scopes(false)));
        assertThatThrownBy(() -> f.cp.services()
                        .create(
                                vic,
                                new Services.CreateRequest(
                                        "x",
                                        null,
                                        List.of(new Services.Listener("tcp", 1, List.of("x.internal:1"))),
                                        List.of(),
                                        true,
                                        null)))
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(403));
    }

    @Test
    void aVerificationRacedByANameChangeVerifiesNothing() {
        f.service(owner, "git", false);
        f.cp.services().update(owner, "git", new Services.UpdateRequest(null, null, null, null, "git.acme.example"));
        String value = f.cp.services().get(owner, "git").privateDns().verificationValue();
        f.txt.put("_underpass-verification.git.acme.example", List.of(value));
        // The provider swaps the name while the gateway is looking the old one up.
        ControlPlane racing = new ControlPlane(f.store, ControlPlaneFixture.SETTINGS, f.clock, name -> {
            f.cp.services()
                    .update(owner, "git", new Services.UpdateRequest(null, null, null, null, "git.victim.example"));
            return List.of(value);
        });

        assertThatThrownBy(() -> racing.privateNameVerification().verify(owner, "git"))
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(409))
                .hasMessageContaining("changed during its verification");
        Services.View after = f.cp.services().get(owner, "git");
        assertThat(after.privateDns().name()).isEqualTo("git.victim.example");
        assertThat(after.privateDns().state().text()).isEqualTo("pendingVerification");
    }

    @Test
    void aKeyCannotOutliveTheKeyThatCreatesIt() {
        java.time.Instant soon = f.clock.instant().plus(java.time.Duration.ofHours(2));
        Principal shortLived = f.as(f.cp.apiKeys()
                .create(owner, new ApiKeys.CreateRequest("short", null, null, soon))
                .key());

        ApiKeys.Created child = f.cp.apiKeys().create(shortLived, new ApiKeys.CreateRequest("child", null, null, null));
        assertThat(child.apiKey().expiresAt())
                .as("without an expiry of its own, the creator's")
                .isEqualTo(soon);
        assertThatThrownBy(() -> f.cp.apiKeys()
                        .create(
                                shortLived,
                                new ApiKeys.CreateRequest(
                                        "longer", null, null, soon.plus(java.time.Duration.ofDays(30)))))
                .isInstanceOfSatisfying(
                        Refused.class, e -> assertThat(status(e)).isEqualTo(400))
                .hasMessageContaining("no later than " + soon);
        assertThat(f.cp.apiKeys()
                        .create(owner, new ApiKeys.CreateRequest("forever", null, null, null))
                        .apiKey()
                        .expiresAt())
                .as("a key without expiry still makes keys without expiry")
                .isNull();
    }
}
