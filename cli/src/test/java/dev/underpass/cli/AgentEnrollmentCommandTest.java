package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;

/** {@code underpass agent-enrollment create|list|delete} and {@code agent-certificate list} against the real API. */
class AgentEnrollmentCommandTest extends OperatorCliTest {

    @Test
    void createShowsTheTokenOnceOrWritesItAndListAndDeleteWork() throws Exception {
        Cli.Run shown = operator.run("agent-enrollment", "create", "dc1");
        assertThat(shown.code()).as(shown.err()).isZero();
        assertThat(shown.out())
                .contains("name: dc1", "status: pending")
                .containsPattern("Enrollment token \\(shown once, " + "store it now\\): upe_[A-Za-z0-9_-]{43}");

        Path file = dir.resolve("dc2.enroll");
        Cli.Run written =
                operator.run("agent-enrollment", "create", "dc2", "--expires-in", "10m", "--out", file.toString());
        assertThat(written.code()).as(written.err()).isZero();
        String token = Files.readString(file).trim();
        assertThat(token).startsWith("upe_");
        assertThat(written.out()).doesNotContain(token).contains("written to " + file);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
                .isEqualTo("rw-------");

        JsonNode list = ApiClient.JSON.readTree(
                operator.run("agent-enrollment", "list", "-o", "json").out());
        assertThat(list.get("items")).hasSize(2);
        String id = list.at("/items/1/id").asText();
        assertThat(list.toString()).doesNotContain(token);
        assertThat(operator.run("agent-enrollment", "list").out()).contains("ID", "STATUS", "dc1", "dc2", "pending");

        Cli.Run deleted = operator.run("agent-enrollment", "delete", id);
        assertThat(deleted.code()).as(deleted.err()).isZero();
        assertThat(deleted.out()).contains("deleted agent enrollment " + id);
        Cli.Run again = operator.run("agent-enrollment", "delete", id);
        assertThat(again.code()).isEqualTo(1);
        assertThat(again.err()).contains("agent enrollment " + id, "HTTP 404");

        Cli.Run tooLong = operator.run("agent-enrollment", "create", "dc3", "--expires-in", "2d");
        assertThat(tooLong.code()).isEqualTo(1);
        assertThat(tooLong.err()).contains("expiresInSeconds: 172800 (expected: 1-86400)");

        assertThat(operator.run("agent-certificate", "list").out()).contains("ID", "FINGERPRINT");
    }
}
