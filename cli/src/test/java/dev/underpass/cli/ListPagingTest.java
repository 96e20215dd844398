package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.controlplane.core.Principal;
import dev.underpass.controlplane.core.Role;
import dev.underpass.controlplane.tenancy.Users;
import org.junit.jupiter.api.Test;

/** Lists follow {@code nextPageToken} to the end, and {@code --limit} caps the total. */
class ListPagingTest extends OperatorCliTest {
    /** More than one page of the CLI's. */
    static final int USERS = ApiClient.PAGE_SIZE + 20;

    @Override
    void prepare(ApiFixture api) throws Exception {
        Principal p = api.operator();
        for (int i = 0; i < USERS; i++) {
            api.controlPlane.users().create(p, new Users.CreateRequest(String.format("user-%03d", i), Role.VIEWER));
        }
    }

    @Test
    void aListFollowsEveryPage() {
        Cli.Run r = operator.run("user", "list");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines()).hasSize(1 + 1 + USERS).first().asString().startsWith("NAME");
        assertThat(r.out()).contains("user-000", String.format("user-%03d", USERS - 1));
    }

    @Test
    void limitCapsTheTotalAndJsonKeepsTheTokenForTheRest() throws Exception {
        int limit = ApiClient.PAGE_SIZE + 5;
        Cli.Run r = operator.run("user", "list", "--limit", String.valueOf(limit), "-o", "json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode page = ApiClient.JSON.readTree(r.out());
        assertThat(page.path("items")).hasSize(limit);
        assertThat(page.path("nextPageToken").asText()).isNotEmpty();

        assertThat(operator.run("user", "list", "--limit", "0").code()).isEqualTo(2);
    }
}
