package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The README's main command: {@code ./underpass demo --check} reaches the private service through an endpoint. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DemoTest {
    @TempDir
    Path dir;

    @Test
    void theDemoReachesThePrivateServiceThroughAnAcceptedEndpoint() throws Exception {
        Path data = dir.resolve("demo");
        Cli.Result r = new Cli(dir, "demo").run("demo", "--check", "--data-dir", data.toString());

        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out())
                .contains("endpoint:       ep-")
                .contains("available (accepted by acme)")
                .contains("HTTP/1.1 200 OK")
                .contains("hello from the private service, reached through Underpass");
        assertThat(r.err())
                .as("every step went through the API")
                .contains("POST /v1/accounts 201")
                .contains("POST /v1/endpoints 201")
                .containsPattern("POST /v1/endpoints/ep-[0-9a-f]+/accept 200");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(data.resolve("admin-key"))))
                .isEqualTo("rw-------");
        String key = Files.readString(data.resolve("admin-key")).trim();
        assertThat(r.out() + r.err())
                .as("no key or token is ever printed")
                .doesNotContain(key)
                .doesNotContain("upk_")
                .doesNotContain("upa_");
    }
}
