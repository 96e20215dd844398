package dev.underpass.cli;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * CLI tests against the real HTTPS API: a fresh store and API per test, and the CLI logged in as
 * the operator. {@link #prepare} sets up what a test class needs before the login.
 */
abstract class OperatorCliTest {
    @TempDir
    Path dir;

    ApiFixture api;
    Cli operator;

    @BeforeEach
    final void startApi() throws Exception {
        api = ApiFixture.start(dir);
        prepare(api);
        operator = Cli.loggedIn(api, dir.resolve("operator"), api.operatorKey);
    }

    @AfterEach
    final void stopApi() {
        api.close();
    }

    /** Runs before the operator logs in; nothing by default. */
    void prepare(ApiFixture api) throws Exception {}
}
