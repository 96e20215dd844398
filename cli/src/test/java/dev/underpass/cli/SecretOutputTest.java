package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Secrets are shown once: to a 0600 file with {@code --out}, else on one labelled stdout line; never on stderr. */
class SecretOutputTest extends OperatorCliTest {

    @Test
    void keyWrittenWithOutIsOwnerOnlyNeverPrintedAndWorks() throws Exception {
        Path file = dir.resolve("ci.key");

        Cli.Run r = operator.run("key", "create", "ci", "--out", file.toString());

        assertThat(r.code()).as(r.err()).isZero();
        String key = Files.readString(file).strip();
        assertThat(key).startsWith("upk_");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                .isEqualTo("rw-------");
        assertThat(r.all()).doesNotContain(key);
        assertThat(r.out()).contains("name: ci", "API key written to " + file + " (mode 0600)");
        Cli ci = Cli.loggedIn(api, dir.resolve("ci"), key);
        assertThat(ci.run("whoami").out()).contains("user: admin");
    }

    @Test
    void anExistingOutFileIsRefusedUntouchedAndNothingIsCreated() throws Exception {
        Path file = dir.resolve("taken.key");
        Files.writeString(file, "keep me");
        int keysBefore = ApiClient.JSON
                .readTree(operator.run("key", "list", "-o", "json").out())
                .path("items")
                .size();

        Cli.Run r = operator.run("key", "create", "ci", "--out", file.toString());

        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--out: " + file + " exists");
        assertThat(Files.readString(file)).isEqualTo("keep me");
        assertThat(ApiClient.JSON
                        .readTree(operator.run("key", "list", "-o", "json").out())
                        .path("items"))
                .hasSize(keysBefore);
    }

    @Test
    void withoutOutTheKeyIsPrintedOnceOnItsOwnLabelledLine() throws Exception {
        Cli.Run r = operator.run("key", "create", "ci", "--expires-in", "90d");

        assertThat(r.code()).as(r.err()).isZero();
        String line = r.out()
                .lines()
                .filter(l -> l.startsWith("API key (shown once, store it now): "))
                .findFirst()
                .orElseThrow();
        String key = line.substring(line.indexOf(": ") + 2);
        assertThat(key).startsWith("upk_");
        assertThat(r.out().split(key, -1)).hasSize(2);
        assertThat(r.err()).doesNotContain(key);
        JsonNode listed = ApiClient.JSON
                .readTree(operator.run("key", "list", "-o", "json").out())
                .path("items");
        Instant expires =
                Instant.parse(listed.get(listed.size() - 1).path("expiresAt").asText());
        assertThat(Duration.between(Instant.now(), expires)).isBetween(Duration.ofDays(89), Duration.ofDays(90));
    }

    @Test
    void jsonOutputCarriesTheSecretUnlessItWentToAFile() throws Exception {
        JsonNode shown = ApiClient.JSON.readTree(
                operator.run("agent-token", "create", "dc1", "-o", "json").out());
        assertThat(shown.path("token").asText()).startsWith("upa_");
        assertThat(shown.at("/agentToken/name").asText()).isEqualTo("dc1");

        Path file = dir.resolve("dc2.token");
        Cli.Run r = operator.run("agent-token", "create", "dc2", "-o", "json", "--out", file.toString());
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode stored = ApiClient.JSON.readTree(r.out());
        assertThat(stored.has("token")).isFalse();
        assertThat(stored.at("/agentToken/name").asText()).isEqualTo("dc2");
        String token = Files.readString(file).strip();
        assertThat(token).startsWith("upa_");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                .isEqualTo("rw-------");
        assertThat(r.all()).doesNotContain(token);
    }

    @Test
    void rotatingWithoutGraceEndsTheOldKeyAndStoresTheNewOne() throws Exception {
        Path oldFile = dir.resolve("old.key");
        String id = ApiClient.JSON
                .readTree(operator.run("key", "create", "ci", "--out", oldFile.toString(), "-o", "json")
                        .out())
                .at("/apiKey/id")
                .asText();
        Cli old =
                Cli.loggedIn(api, dir.resolve("old"), Files.readString(oldFile).strip());

        Path newFile = dir.resolve("new.key");
        Cli.Run rotate = operator.run("key", "rotate", id, "--grace", "0s", "--out", newFile.toString());

        assertThat(rotate.code()).as(rotate.err()).isZero();
        assertThat(rotate.out()).contains("replaces: " + id + " (stopped working now)");
        String fresh = Files.readString(newFile).strip();
        assertThat(rotate.all()).doesNotContain(fresh);
        Cli.Run refused = old.run("whoami");
        assertThat(refused.code()).isEqualTo(1);
        assertThat(refused.err()).contains("API key " + id + " expired at", "HTTP 401");
        assertThat(Cli.loggedIn(api, dir.resolve("new"), fresh).run("whoami").out())
                .contains("user: admin");

        Cli.Run revoke = operator.run("key", "revoke", id);
        assertThat(revoke.code()).as(revoke.err()).isZero();
        assertThat(revoke.out()).contains("status: revoked");
    }

    @Test
    void agentTokenRotationPrintsTheNewTokenOnce() throws Exception {
        String id = ApiClient.JSON
                .readTree(operator.run("agent-token", "create", "dc1", "-o", "json")
                        .out())
                .at("/agentToken/id")
                .asText();
        Cli.Run r = operator.run("agent-token", "rotate", id, "--grace", "1h");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out())
                .containsPattern("(?m)^Agent token \\(shown once, store it now\\): upa_\\S+$")
                .contains("replaces: " + id + " (keeps working until about ");
    }
}
