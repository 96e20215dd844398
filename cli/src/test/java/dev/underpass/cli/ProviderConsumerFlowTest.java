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

/**
 * The whole control-plane flow through the CLI: the operator creates a provider and a consumer
 * account; the provider publishes a service for the consumer, the consumer requests an
 * endpoint, the provider sees the request and accepts it, and both follow its history.
 */
class ProviderConsumerFlowTest {
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
    void providerPublishesConsumerRequestsProviderAccepts() throws Exception {
        Cli operator = Cli.loggedIn(api, dir.resolve("operator"), api.operatorKey);
        Cli provider = Cli.loggedIn(api, dir.resolve("provider"), createAccount(operator, "acme"));
        Cli consumer = Cli.loggedIn(api, dir.resolve("consumer"), createAccount(operator, "globex"));
        Cli.Run accounts = operator.run("account", "list");
        assertThat(accounts.out())
                .containsPattern("NAME +OPERATOR +CREATED")
                .containsPattern("acme +no")
                .contains("globex");

        Cli.Run created = provider.run(
                "service",
                "create",
                "git",
                "--listener",
                "443=git.internal:443",
                "--listener",
                "22=git.internal:22,git2.internal:22",
                "--allow",
                "globex",
                "--description",
                "Git server");
        assertThat(created.code()).as(created.err()).isZero();
        assertThat(created.out())
                .contains(
                        "reference: acme/git",
                        "acceptance: required",
                        "allowed principals: globex",
                        "22/tcp",
                        "git.internal:22, git2.internal:22");

        Cli.Run offers = consumer.run("service", "list", "--available");
        assertThat(offers.code()).as(offers.err()).isZero();
        assertThat(offers.out()).containsPattern("SERVICE +PORTS").containsPattern("acme/git +22,443 +required");

        Cli.Run request = consumer.run("endpoint", "create", "acme/git", "--output", "json");
        assertThat(request.code()).as(request.err()).isZero();
        JsonNode endpoint = ApiClient.JSON.readTree(request.out());
        String id = endpoint.path("id").asText();
        assertThat(endpoint.path("state").asText()).isEqualTo("pendingAcceptance");

        Cli.Run pending = provider.run("endpoint", "list", "--side", "provider");
        assertThat(pending.code()).as(pending.err()).isZero();
        assertThat(pending.out())
                .containsPattern("ID +SERVICE +ACCOUNT +STATE +PORTS")
                .containsPattern(id + " +acme/git +globex +pendingAcceptance");
        assertThat(provider.run("endpoint", "list", "--side", "provider", "--state", "available")
                        .out())
                .doesNotContain(id);

        Cli.Run accept = provider.run("endpoint", "accept", id, "--reason", "approved in ticket 42");
        assertThat(accept.code()).as(accept.err()).isZero();
        assertThat(accept.out()).contains("state: pending");

        Cli.Run show = consumer.run("endpoint", "show", id);
        assertThat(show.code()).as(show.err()).isZero();
        assertThat(show.out())
                .contains(
                        "id: " + id,
                        "service: acme/git",
                        "account: globex",
                        "state: pending",
                        "reason: approved in ticket 42",
                        "DNS names: " + id + ".git.acme.",
                        "events:");
        assertThat(show.out())
                .containsPattern("TIME +CHANGE +ACTOR +REASON")
                .containsPattern(
                        "new . pendingAcceptance +owner@globex \\(key key-[0-9a-f]+\\) +waiting for acme to accept")
                .containsPattern("pendingAcceptance . pending +account acme +approved in ticket 42");

        JsonNode mine = ApiClient.JSON.readTree(
                consumer.run("endpoint", "list", "-o", "json").out());
        assertThat(mine.path("items")).hasSize(1);
        assertThat(mine.path("items").get(0).path("id").asText()).isEqualTo(id);
        assertThat(mine.has("nextPageToken")).isFalse();

        Cli.Run delete = consumer.run("endpoint", "delete", id);
        assertThat(delete.code()).as(delete.err()).isZero();
        assertThat(delete.out()).contains("state: deleting");
    }

    @Test
    void serviceShowUpdateAndDelete() throws Exception {
        Cli operator = Cli.loggedIn(api, dir.resolve("operator"), api.operatorKey);
        operator.run("service", "create", "web", "--listener", "80=web.internal:8080", "--acceptance-required=false");

        Cli.Run update = operator.run(
                "service",
                "update",
                "web",
                "--allow",
                "*",
                "--private-dns-name",
                "web.example.com",
                "--listener",
                "443=web.internal:8443");
        assertThat(update.code()).as(update.err()).isZero();
        Cli.Run show = operator.run("service", "show", "web");
        assertThat(show.out())
                .contains(
                        "acceptance: automatic",
                        "allowed principals: *",
                        "443/tcp",
                        "web.internal:8443",
                        "private DNS name: web.example.com (pendingVerification)",
                        "TXT _underpass-verification.web.example.com \"underpass-verification=",
                        "then run 'underpass service verify-dns web'")
                .doesNotContain("80/tcp");
        JsonNode json = ApiClient.JSON.readTree(
                operator.run("service", "show", "web", "-o", "json").out());
        assertThat(json.at("/privateDns/state").asText()).isEqualTo("pendingVerification");

        Cli.Run removed = operator.run("service", "update", "web", "--no-private-dns-name");
        assertThat(removed.code()).as(removed.err()).isZero();
        assertThat(removed.out()).contains("private DNS name: -");
        assertThat(operator.run("service", "update", "web").code()).isEqualTo(2);

        assertThat(operator.run("service", "list").out()).containsPattern("web +443.web.internal:8443 +\\* +automatic");
        Cli.Run delete = operator.run("service", "delete", "web");
        assertThat(delete.code()).as(delete.err()).isZero();
        assertThat(operator.run("service", "list", "-o", "json").out()).doesNotContain("\"web\"");
    }

    /** Creates an account whose owner key goes to a file, as an operator would hand it over. */
    private String createAccount(Cli operator, String name) throws Exception {
        Path keyFile = dir.resolve(name + "-owner.key");
        Cli.Run r = operator.run("account", "create", name, "--out", keyFile.toString());
        assertThat(r.code()).as(r.err()).isZero();
        String key = Files.readString(keyFile).strip();
        assertThat(key).startsWith("upk_");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(keyFile)))
                .isEqualTo("rw-------");
        assertThat(r.out())
                .contains(
                        "account: " + name,
                        "owner: owner (role owner)",
                        "API key of owner@" + name + " written to " + keyFile);
        assertThat(r.all()).doesNotContain(key);
        return key;
    }
}
