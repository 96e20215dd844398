package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Users' OIDC subjects through the CLI: set at creation, changed and removed by an account's own
 * admins; an empty update is refused; a subject is unique within an account, not across accounts.
 */
class UserOidcSubjectTest {
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
    void aUsersOidcSubjectIsSetChangedAndRemoved() throws Exception {
        Cli operator = Cli.loggedIn(api, dir.resolve("operator"), api.operatorKey);
        Cli.Run created =
                operator.run("user", "create", "bob", "--role", "viewer", "--oidc-subject", "bob@corp.example");
        assertThat(created.code()).as(created.err()).isZero();
        assertThat(created.out()).contains("OIDC subject: bob@corp.example");

        Cli.Run changed =
                operator.run("user", "update", "bob", "--oidc-subject", "robert@corp.example", "--output", "json");
        assertThat(changed.code()).as(changed.err()).isZero();
        JsonNode user = ApiClient.JSON.readTree(changed.out());
        assertThat(user.path("oidcSubject").asText()).isEqualTo("robert@corp.example");
        assertThat(user.path("role").asText()).as("the role is left as it was").isEqualTo("viewer");

        Cli.Run removed = operator.run("user", "update", "bob", "--oidc-subject", "", "--output", "json");
        assertThat(removed.code()).as(removed.err()).isZero();
        assertThat(ApiClient.JSON.readTree(removed.out()).path("oidcSubject").isNull()
                        || ApiClient.JSON
                                .readTree(removed.out())
                                .path("oidcSubject")
                                .isMissingNode())
                .isTrue();

        Cli.Run nothing = operator.run("user", "update", "bob");
        assertThat(nothing.code()).isEqualTo(2);
        assertThat(nothing.err()).contains("nothing to change (expected: --role ROLE, --oidc-subject SUB, or both)");
    }

    @Test
    void tenantAdminsLinkTheirOwnUsersAndASubjectIsUniqueWithinAnAccount() throws Exception {
        Cli acme = Cli.loggedIn(api, dir.resolve("acme"), ownerKey("acme"));
        Cli globex = Cli.loggedIn(api, dir.resolve("globex"), ownerKey("globex"));
        Cli.Run atAcme = acme.run("user", "create", "bob", "--role", "viewer", "--oidc-subject", "bob@corp.example");
        assertThat(atAcme.code()).as(atAcme.err()).isZero();
        assertThat(atAcme.out()).contains("OIDC subject: bob@corp.example");
        Cli.Run atGlobex =
                globex.run("user", "create", "robert", "--role", "viewer", "--oidc-subject", "bob@corp.example");
        assertThat(atGlobex.code())
                .as("another account may link the same person: " + atGlobex.err())
                .isZero();

        Cli.Run duplicate =
                acme.run("user", "create", "bobby", "--role", "viewer", "--oidc-subject", "bob@corp.example");
        assertThat(duplicate.code()).isEqualTo(ApiError.EXIT_CODE);
        assertThat(duplicate.err()).contains("oidcSubject: already linked to user 'bob' of account acme", "HTTP 409");
        assertThat(acme.run("user", "create", "bobby", "--role", "viewer").code())
                .as("without a subject")
                .isZero();
        Cli.Run changed = acme.run("user", "update", "bobby", "--oidc-subject", "bob@corp.example");
        assertThat(changed.code()).isEqualTo(ApiError.EXIT_CODE);
        assertThat(changed.err())
                .contains("already linked to user 'bob' of account acme")
                .doesNotContain("globex");
    }

    private String ownerKey(String account) {
        return api.controlPlane
                .accounts()
                .create(api.operator(), new dev.underpass.controlplane.tenancy.Accounts.CreateRequest(account, null))
                .ownerKey()
                .key();
    }
}
