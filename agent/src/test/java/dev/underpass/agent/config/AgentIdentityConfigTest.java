package dev.underpass.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's configuration for OIDC workload identity: an identity and the file its JWT is
 * read from, instead of a token; both or neither credential is a clear error.
 */
class AgentIdentityConfigTest {
    static final String ID = "wid-0123456789abcdef";
    static final String TOKEN = "upa_Sup3rSecretTokenValue-ThatMustNeverBeShown";

    @TempDir
    Path dir;

    private static AgentConfig config(String token, String identity, String oidcTokenFile) {
        return new AgentConfig(
                "gateway.example.com:8443",
                "test-agent",
                token,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                List.of("db.internal:5432"),
                null,
                null,
                null,
                null,
                identity,
                oidcTokenFile,
                null,
                null);
    }

    @Test
    void anIdentityWithItsTokenFileIsValidAndTheFileIsReadAfreshEachTime() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "eyJhbGciOiJSUzI1NiJ9.first.sig\n");
        AgentConfig c = config(null, ID, file.toString());
        assertThat(c.validate()).isEmpty();
        assertThat(c.usesIdentity()).isTrue();
        assertThat(c.resolveToken()).isNull();
        assertThat(c.readOidcToken()).isEqualTo("eyJhbGciOiJSUzI1NiJ9.first.sig");
        Files.writeString(file, "  eyJhbGciOiJSUzI1NiJ9.second.sig  ");
        assertThat(c.readOidcToken()).isEqualTo("eyJhbGciOiJSUzI1NiJ9.second.sig");
        Files.writeString(file, "\n");
        assertThatThrownBy(c::readOidcToken).hasMessageContaining("is empty (expected: a JWT)");
    }

    @Test
    void aTokenAndAnIdentityTogetherAreRefusedNamingBoth() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "x");
        List<String> errors = config(TOKEN, ID, file.toString()).validate();
        assertThat(errors)
                .singleElement()
                .satisfies(e -> assertThat(e)
                        .startsWith("credentials: token and identity (expected: exactly one of them")
                        .doesNotContain(TOKEN));
    }

    @Test
    void neitherCredentialNamesEveryWayToAuthenticate() {
        assertThat(config(null, null, null).validate())
                .singleElement()
                .satisfies(e -> assertThat(e)
                        .startsWith("token: missing")
                        .contains("--identity wid-... and --oidc-token-file FILE"));
    }

    @Test
    void halfAnIdentityOrAMalformedOneIsReportedByField() {
        assertThat(config(null, ID, null).validate())
                .anySatisfy(e -> assertThat(e).startsWith("oidcTokenFile: missing"));
        Path missing = dir.resolve("no-such-token");
        assertThat(config(null, null, missing.toString()).validate())
                .anySatisfy(e -> assertThat(e).startsWith("identity: missing"))
                .anySatisfy(e -> assertThat(e).startsWith("oidcTokenFile: " + missing + " (expected: a readable file"));
        assertThat(config(null, "agt-0123", missing.toString()).validate())
                .anySatisfy(e -> assertThat(e).startsWith("identity: agt-0123 (expected: wid- and 16 hex digits"));
    }

    @Test
    void theFileSettingsLoadFromYaml() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "x");
        Path yaml = Files.writeString(
                dir.resolve("agent.yaml"),
                "gateway: gw.example.com:8443\nidentity: " + ID + "\noidcTokenFile: " + file
                        + "\ntargets: [db.internal:5432]\n");
        AgentConfig c = AgentConfig.load(yaml);
        assertThat(c.identity()).isEqualTo(ID);
        assertThat(c.oidcTokenFile()).isEqualTo(file.toString());
        assertThat(c.validate()).isEmpty();
    }
}
