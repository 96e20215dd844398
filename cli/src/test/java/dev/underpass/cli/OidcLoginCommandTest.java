package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.tenancy.Accounts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code underpass login --oidc-token-file FILE --account NAME} against a real gateway with OIDC
 * login and a loopback issuer: the file's path and the account are stored (never the token),
 * every command reads the file afresh and sends {@code underpass-account}, and {@code whoami}
 * shows key {@code oidc}. Two accounts link the same person, each through its own admin.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class OidcLoginCommandTest {
    static final String ALICE = "alice@corp.example";

    @TempDir
    Path dir;

    OidcGatewayFixture gw;
    Cli acmeOwner;
    Cli globexOwner;

    @BeforeEach
    void start() throws Exception {
        gw = OidcGatewayFixture.start(dir);
        acmeOwner = loggedIn("acme-owner", ownerKey("acme"));
        globexOwner = loggedIn("globex-owner", ownerKey("globex"));
        // Each account's own owner links one of its users to the same person, through the CLI.
        ok(acmeOwner.run("user", "create", "alice", "--role", "member", "--oidc-subject", ALICE));
        ok(globexOwner.run("user", "create", "al", "--role", "viewer", "--oidc-subject", ALICE));
    }

    @AfterEach
    void stop() {
        gw.close();
    }

    private String ownerKey(String account) {
        return gw.controlPlane()
                .accounts()
                .create(gw.operator(), new Accounts.CreateRequest(account, null))
                .ownerKey()
                .key();
    }

    private Cli loggedIn(String name, String key) throws Exception {
        Path keyFile = Files.writeString(dir.resolve(name + ".key"), key + "\n");
        Cli cli = new Cli(dir.resolve(name));
        ok(cli.run(
                "login", "--gateway", gw.gateway, "--ca-file", gw.caFile.toString(), "--key-file", keyFile.toString()));
        return cli;
    }

    private static Cli.Run ok(Cli.Run r) {
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        return r;
    }

    private Cli.Run login(Cli cli, Path tokenFile, String... more) {
        String[] args = {
            "login",
            "--gateway",
            gw.gateway,
            "--ca-file",
            gw.caFile.toString(),
            "--oidc-token-file",
            tokenFile.toString()
        };
        String[] all = java.util.Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return cli.run(all);
    }

    @Test
    void loginStoresTheTokenFileAndAccountAndEveryCommandReadsTheFileAfresh() throws Exception {
        String jwt = gw.token(ALICE);
        Path tokenFile = Files.writeString(dir.resolve("oidc-token"), jwt + "\n");
        Cli cli = new Cli(dir.resolve("alice"));

        Cli.Run login = ok(login(cli, tokenFile, "--account", "acme"));
        assertThat(login.out())
                .contains(
                        "logged in to " + gw.gateway + " as alice@acme (role member)",
                        "OIDC token file " + tokenFile.toAbsolutePath() + " and account acme stored in");
        assertThat(login.all()).doesNotContain(jwt);
        Path config = cli.configDir.resolve(CliConfig.FILE_NAME);
        String stored = Files.readString(config);
        assertThat(stored).doesNotContain(jwt).doesNotContain("\"key\"");
        JsonNode json = ApiClient.JSON.readTree(stored);
        assertThat(json.path("oidcTokenFile").asText())
                .isEqualTo(tokenFile.toAbsolutePath().toString());
        assertThat(json.path("account").asText()).isEqualTo("acme");

        Cli.Run whoami = ok(cli.run("whoami"));
        assertThat(whoami.out())
                .contains(
                        "account: acme",
                        "user: alice",
                        "role: member",
                        "API key: oidc",
                        "OIDC token file: " + tokenFile.toAbsolutePath());
        assertThat(whoami.all()).doesNotContain(jwt);
        assertThat(ok(cli.run("user", "list")).out()).contains("alice").doesNotContain(" al ");

        // The identity provider replaces the token in place: the next command sends the new one.
        ok(acmeOwner.run("user", "create", "bob", "--role", "viewer", "--oidc-subject", "bob@corp.example"));
        Files.writeString(tokenFile, gw.token("bob@corp.example"));
        assertThat(ok(cli.run("whoami")).out()).contains("user: bob", "role: viewer", "API key: oidc");

        // An unreadable token file: a clear error that shows no token.
        Files.delete(tokenFile);
        Cli.Run gone = cli.run("whoami");
        assertThat(gone.code()).isEqualTo(2);
        assertThat(gone.err())
                .contains("OIDC token file " + tokenFile.toAbsolutePath() + ": cannot read it: NoSuchFileException");

        Cli.Run logout = ok(cli.run("logout"));
        assertThat(logout.out()).contains("OIDC token file and account removed");
        assertThat(ApiClient.JSON.readTree(config.toFile()).has("oidcTokenFile"))
                .isFalse();
        assertThat(cli.run("whoami").err()).contains("not logged in");
    }

    @Test
    void theAccountNamedPicksTheUserOfTheSameToken() throws Exception {
        Path tokenFile = Files.writeString(dir.resolve("oidc-token"), gw.token(ALICE));
        Cli atGlobex = new Cli(dir.resolve("globex-alice"));
        ok(login(atGlobex, tokenFile, "--account", "globex"));
        assertThat(ok(atGlobex.run("whoami")).out())
                .contains("account: globex", "user: al", "role: viewer", "API key: oidc");
        Cli atAcme = new Cli(dir.resolve("acme-alice"));
        ok(login(atAcme, tokenFile, "--account", "acme"));
        assertThat(ok(atAcme.run("whoami")).out()).contains("account: acme", "user: alice");
    }

    @Test
    void anAccountWithoutTheSubjectIsRefusedAndNothingIsStored() throws Exception {
        Path tokenFile = Files.writeString(dir.resolve("oidc-token"), gw.token(ALICE));
        Cli cli = new Cli(dir.resolve("nobody"));
        Cli.Run unknown = login(cli, tokenFile, "--account", "initech");
        assertThat(unknown.code()).isEqualTo(ApiError.EXIT_CODE);
        assertThat(unknown.err())
                .contains("OIDC token refused: no user of account initech has oidcSubject '" + ALICE + "'", "HTTP 401");
        assertThat(Files.exists(cli.configDir.resolve(CliConfig.FILE_NAME))).isFalse();

        Cli.Run noAccount = login(cli, tokenFile);
        assertThat(noAccount.code()).isEqualTo(2);
        assertThat(noAccount.err()).contains("--oidc-token-file needs --account NAME");

        Path keyFile = Files.writeString(dir.resolve("key-in-token-file"), "upk_" + "0".repeat(43));
        Cli.Run key = login(cli, keyFile, "--account", "acme");
        assertThat(key.code()).isEqualTo(2);
        assertThat(key.err()).contains("holds an API key, not a JWT").doesNotContain("upk_0");

        Cli.Run accountWithKey = cli.run(
                "login",
                "--gateway",
                gw.gateway,
                "--ca-file",
                gw.caFile.toString(),
                "--key-file",
                keyFile.toString(),
                "--account",
                "acme");
        assertThat(accountWithKey.code()).isEqualTo(2);
        assertThat(accountWithKey.err()).contains("--account: only with --oidc-token-file");
    }

    @Test
    void envNeedsAnApiKeyForTheProxy() throws Exception {
        Path tokenFile = Files.writeString(dir.resolve("oidc-token"), gw.token(ALICE));
        Cli cli = new Cli(dir.resolve("alice"));
        ok(login(cli, tokenFile, "--account", "acme"));
        Cli.Run env = cli.run("env");
        assertThat(env.code()).isEqualTo(2);
        assertThat(env.err()).contains("the proxy takes API keys only, and this login is an OIDC token");
    }
}
