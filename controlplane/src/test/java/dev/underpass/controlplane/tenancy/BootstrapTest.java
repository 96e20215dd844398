package dev.underpass.controlplane.tenancy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.ControlPlaneFixture;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.store.Store;
import dev.underpass.controlplane.store.StoreConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The first start creates the operator, once, and never without keeping its key. */
class BootstrapTest {
    @Test
    void aKeyThatCannotBeKeptCreatesNothingAndTheNextStartTriesAgain() {
        try (Store store = Store.open(StoreConfig.inMemory("bootstrap-" + UUID.randomUUID()))) {
            ControlPlane cp = new ControlPlane(store, ControlPlaneFixture.SETTINGS);

            assertThatThrownBy(() -> cp.accounts().bootstrap(key -> {
                        throw new IOException("read-only file system");
                    }))
                    .isInstanceOf(UncheckedIOException.class)
                    .hasMessageContaining("read-only file system");

            AtomicReference<String> kept = new AtomicReference<>();
            var created = cp.accounts().bootstrap(kept::set);
            assertThat(created).isPresent();
            assertThat(kept.get()).isEqualTo(created.get().ownerKey().key());
            Principal operator = cp.apiKeys().authenticate(kept.get());
            assertThat(operator.account()).isEqualTo(Accounts.OPERATOR_ACCOUNT);
            assertThat(operator.operator()).isTrue();
            assertThat(operator.role()).isEqualTo(Role.OWNER);

            assertThat(cp.accounts().bootstrap(key -> kept.set("overwritten")))
                    .as("only on a fresh store")
                    .isEmpty();
            assertThat(kept.get()).isEqualTo(created.get().ownerKey().key());
        }
    }
}
