package dev.underpass.controlplane.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The roles table in docs/security.md says what the code's roles grant. */
class RolesDocumentTest {
    private static final Pattern ROW =
            Pattern.compile("^\\| `(\\w+) (\\S+)` \\| (.+?) \\| (.+?) \\| (.+?) \\| (.+?) \\| (.+?) \\|$");
    private static final List<Role> COLUMNS = List.of(Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER);

    @Test
    void everyRowOfTheRolesTableMatchesTheScopesEachRoleGrants() throws Exception {
        List<String> rows = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("..", "docs", "security.md"))) {
            Matcher m = ROW.matcher(line);
            if (!m.matches()) {
                continue;
            }
            rows.add(m.group(1) + " " + m.group(2));
            List<Scope> scopes = new ArrayList<>();
            Matcher s = Pattern.compile("`([a-z-]+:[a-z]+)`").matcher(m.group(3).replaceAll("\\(.*\\)", ""));
            while (s.find()) {
                scopes.add(Scope.parse(s.group(1)));
            }
            for (int i = 0; i < COLUMNS.size(); i++) {
                Role role = COLUMNS.get(i);
                String cell = m.group(4 + i);
                boolean plain = role.scopes(false).containsAll(scopes);
                boolean operator = role.scopes(true).containsAll(scopes);
                String expected = plain ? "yes" : operator ? "operator account only" : "no";
                assertThat(cell)
                        .as("%s %s for %s", m.group(1), m.group(2), role)
                        .isEqualTo(expected);
            }
        }
        assertThat(rows)
                .as("rows of the table")
                .hasSizeGreaterThan(25)
                .contains("GET /v1/whoami", "POST /v1/endpoints/{id}/accept");
    }
}
