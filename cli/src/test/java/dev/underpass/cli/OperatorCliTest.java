package dev.underpass.cli;

import dev.underpass.controlplane.ControlPlane;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * CLI tests against the real HTTPS API: a fresh store and API per test, and the CLI logged in as
 * the operator. {@link #oidc} and {@link #prepare} set up what a test class needs before the login.
 */
abstract class OperatorCliTest {
    @TempDir
    Path dir;

    ApiFixture api;
    Cli operator;

    @BeforeEach
    final void startApi() throws Exception {
        api = ApiFixture.start(dir, oidc());
        prepare(api);
        operator = Cli.loggedIn(api, dir.resolve("operator"), api.operatorKey);
    }

    @AfterEach
    final void stopApi() {
        api.close();
    }

    /** The OIDC trust the control plane is built with; none by default. */
    ControlPlane.Oidc oidc() {
        return ControlPlane.Oidc.NONE;
    }

    /** Runs before the operator logs in; nothing by default. */
    void prepare(ApiFixture api) throws Exception {}
}
