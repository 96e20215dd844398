package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code login}, {@code whoami} and {@code logout} against the real API. */
class LoginTest {
    @TempDir
    Path dir;

    ApiFixture api;

    @BeforeEach
    void start() throws Exception {
        api = ApiFixture.start(dir);
    }

    @AfterEach
    void stop() {
        api.close();
    }

    @Test
    void loginWithAKeyFileStoresItOwnerOnlyAndWhoamiUsesIt() throws Exception {
        Path keyFile = dir.resolve("operator.key");
        Files.writeString(keyFile, api.operatorKey + "\n");
        Cli cli = new Cli(dir.resolve("home/.config/underpass"));

        Cli.Run login = cli.run(
                "login",
                "--gateway",
                api.gateway,
                "--ca-file",
                api.caFile.toString(),
                "--key-file",
                keyFile.toString());

        assertThat(login.code()).as(login.err()).isZero();
        assertThat(login.out()).contains("logged in to " + api.gateway + " as admin@operator (role owner)");
        assertThat(login.all()).doesNotContain(api.operatorKey);
        Path config = cli.configDir.resolve("config.json");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(config)))
                .isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(cli.configDir)))
                .isEqualTo("rwx------");
        JsonNode stored = ApiClient.JSON.readTree(config.toFile());
        assertThat(stored.path("gateway").asText()).isEqualTo(api.gateway);
        assertThat(stored.path("caFile").asText())
                .isEqualTo(api.caFile.toAbsolutePath().toString());
        assertThat(stored.path("key").asText()).isEqualTo(api.operatorKey);

        Cli.Run whoami = cli.run("whoami");
        assertThat(whoami.code()).as(whoami.err()).isZero();
        assertThat(whoami.out())
                .contains("account: operator (operator)", "user: admin", "role: owner", "accounts:write");

        Cli.Run json = cli.run("whoami", "--output", "json");
        assertThat(json.code()).isZero();
        JsonNode me = ApiClient.JSON.readTree(json.out());
        assertThat(me.path("account").asText()).isEqualTo("operator");
        assertThat(me.path("operator").asBoolean()).isTrue();
    }

    @Test
    void loginReadsTheKeyFromStdinWithWithKey() {
        Cli cli = new Cli(dir.resolve("config"));
        Cli.Run login = cli.runWithStdin(
                api.operatorKey + "\n",
                "login",
                "--gateway",
                api.gateway + "/",
                "--ca-file",
                api.caFile.toString(),
                "--with-key");
        assertThat(login.code()).as(login.err()).isZero();
        assertThat(cli.run("whoami").out()).contains("user: admin");
    }

    @Test
    void aBadKeyGetsAClear401AndNothingIsStored() throws Exception {
        Path keyFile = dir.resolve("wrong.key");
        String wrong = "upk_" + "0".repeat(43);
        Files.writeString(keyFile, wrong);
        Cli cli = new Cli(dir.resolve("config"));

        Cli.Run login = cli.run(
                "login",
                "--gateway",
                api.gateway,
                "--ca-file",
                api.caFile.toString(),
                "--key-file",
                keyFile.toString());

        assertThat(login.code()).isEqualTo(1);
        assertThat(login.err()).contains("underpass: API key not recognised: it is unknown or was revoked (HTTP 401");
        assertThat(login.all()).doesNotContain(wrong);
        assertThat(cli.configDir.resolve("config.json")).doesNotExist();
    }

    @Test
    void withoutAKeySourceOrTerminalLoginIsAUsageError() {
        Cli.Run login = new Cli(dir.resolve("config")).run("login", "--gateway", api.gateway);
        assertThat(login.code()).isEqualTo(2);
        assertThat(login.err()).contains("no terminal to prompt for the API key", "--key-file", "--with-key");
    }

    @Test
    void somethingOtherThanAnApiKeyIsRefusedWithoutEchoingIt() {
        String token = "upa_" + "1".repeat(43);
        Cli.Run login =
                new Cli(dir.resolve("config")).runWithStdin(token, "login", "--gateway", api.gateway, "--with-key");
        assertThat(login.code()).isEqualTo(2);
        assertThat(login.err()).contains("not of the form upk_").doesNotContain(token);
    }

    @Test
    void aPlainHttpGatewayIsRefusedBeforeTheKeyIsSent() {
        Cli.Run login = new Cli(dir.resolve("config"))
                .runWithStdin(
                        api.operatorKey, "login", "--gateway", api.gateway.replace("https:", "http:"), "--with-key");
        assertThat(login.code()).isEqualTo(2);
        assertThat(login.err()).contains("expected: https://HOST:PORT");
    }

    @Test
    void withoutTheCaFileTheGatewayIsNotTrusted() throws Exception {
        Path keyFile = dir.resolve("operator.key");
        Files.writeString(keyFile, api.operatorKey);
        Cli.Run login =
                new Cli(dir.resolve("config")).run("login", "--gateway", api.gateway, "--key-file", keyFile.toString());
        assertThat(login.code()).isEqualTo(1);
        assertThat(login.err()).contains("TLS handshake failed", "--ca-file").doesNotContain(api.operatorKey);
    }

    @Test
    void logoutRemovesTheStoredKey() throws Exception {
        Cli cli = Cli.loggedIn(api, dir.resolve("operator"), api.operatorKey);

        Cli.Run logout = cli.run("logout");

        assertThat(logout.code()).isZero();
        assertThat(Files.readString(cli.configDir.resolve("config.json")))
                .doesNotContain(api.operatorKey)
                .contains(api.gateway);
        Cli.Run whoami = cli.run("whoami");
        assertThat(whoami.code()).isEqualTo(2);
        assertThat(whoami.err()).contains("not logged in to " + api.gateway);
    }
}
