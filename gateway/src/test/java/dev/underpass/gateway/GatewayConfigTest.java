package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GatewayConfigTest {
    private static final String HASH = AgentTokens.sha256Hex("upa_test-token");

    @TempDir
    Path dir;

    private Path write(String yaml) throws IOException {
        Path file = dir.resolve("gateway.yaml");
        Files.writeString(file, yaml);
        return file;
    }

    /** The field path of an error: everything before its first colon. */
    private static String field(String error) {
        return error.substring(0, error.indexOf(':'));
    }

    @Test
    void validFileLoadsAndValidates() throws IOException {
        GatewayConfig c = GatewayConfig.load(write("""
                agentListen: 127.0.0.1:8443
                endpointBind: 127.0.0.1
                endpointPorts: 21000-21010
                serverNames: [gateway.example.com, 127.0.0.1]
                heartbeatTimeoutSeconds: 10
                dialTimeoutSeconds: 5
                accounts:
                  - name: acme
                    agentTokens:
                      - name: acme-agent
                        sha256: %s
                  - name: platform
                services:
                  - name: git
                    account: acme
                    listeners:
                      - port: 22
                        targets: [git.internal:22]
                      - port: 443
                        targets: ["git.internal:443", "[fd00::1]:443"]
                endpoints:
                  - name: platform-git
                    account: platform
                    service: git
                    ports:
                      22: 2222
                """.formatted(HASH)));

        assertThat(c.validate()).isEmpty();
        assertThat(c.agentListenAddress().port()).isEqualTo(8443);
        assertThat(c.endpointPortRange()).containsExactly(21000, 21010);
        assertThat(c.serverNames()).containsExactly("gateway.example.com", "127.0.0.1");
        assertThat(c.heartbeatTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(c.dialTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.accounts()).extracting(GatewayConfig.Account::name).containsExactly("acme", "platform");
        assertThat(c.accounts().get(0).agentTokens()).containsExactly(new GatewayConfig.AgentToken("acme-agent", HASH));
        assertThat(c.services().get(0).listeners()).hasSize(2);
        assertThat(c.services().get(0).listeners().get(1).targets()).containsExactly("git.internal:443", "[fd00::1]:443");
        assertThat(c.endpoints().get(0).ports()).isEqualTo(Map.of(22, 2222));
    }

    @Test
    void omittedSettingsTakeTheDocumentedDefaults() throws IOException {
        GatewayConfig c = GatewayConfig.load(write("accounts: [{name: acme}]\n"));
        assertThat(c.validate()).isEmpty();
        assertThat(c.agentListen()).isEqualTo(GatewayConfig.DEFAULT_AGENT_LISTEN);
        assertThat(c.endpointBind()).isEqualTo(GatewayConfig.DEFAULT_ENDPOINT_BIND);
        assertThat(c.endpointPorts()).isEqualTo(GatewayConfig.DEFAULT_ENDPOINT_PORTS);
        assertThat(c.heartbeatTimeout()).isEqualTo(GatewayConfig.DEFAULT_HEARTBEAT_TIMEOUT);
        assertThat(c.dialTimeout()).isEqualTo(GatewayConfig.DEFAULT_DIAL_TIMEOUT);
        assertThat(c.tls()).isNull();
        assertThat(c.services()).isEmpty();
        assertThat(c.endpoints()).isEmpty();
    }

    @Test
    void emptyFileIsTheEmbeddedDefaults() throws IOException {
        GatewayConfig c = GatewayConfig.load(write(""));
        assertThat(c).isEqualTo(GatewayConfig.defaults());
        assertThat(c.validate()).isEmpty();
        assertThat(GatewayConfig.load(write("# everything commented out\n# agentListen: 0.0.0.0:8443\n")))
                .isEqualTo(GatewayConfig.defaults());
    }

    @Test
    void reportsEveryMistakeAtOnceWithItsFieldPath() throws IOException {
        GatewayConfig c = GatewayConfig.load(write("""
                heartbeatTimeoutSeconds: 1
                tls:
                  certificate: /etc/underpass/gateway.pem
                accounts:
                  - name: Bad_Name
                    agentTokens:
                      - name: CI Token
                        sha256: not-a-hash
                  - name: acme
                  - name: acme
                services:
                  - name: git
                    account: nobody
                    listeners:
                      - port: 0
                        targets: [git.internal]
                      - port: 443
                        targets: []
                endpoints:
                  - name: E1!
                    account: acme
                    service: missing
                  - name: e2
                    account: acme
                    service: git
                    ports:
                      9999: 3000
                      443: 2222
                  - name: e3
                    account: acme
                    service: git
                    ports:
                      443: 2222
                """));

        List<String> errors = c.validate();

        assertThat(errors).extracting(GatewayConfigTest::field).containsExactlyInAnyOrder(
                "heartbeatTimeoutSeconds",
                "tls",
                "accounts[0].name",
                "accounts[0].agentTokens[0].name",
                "accounts[0].agentTokens[0].sha256",
                "accounts[2].name",
                "services[0].account",
                "services[0].listeners[0].port",
                "services[0].listeners[0].targets[0]",
                "services[0].listeners[1].targets",
                "endpoints[0].name",
                "endpoints[0].service",
                "endpoints[1].ports.9999",
                "endpoints[2].ports.443");
        assertThat(errors).allSatisfy(e -> assertThat(e).contains("(expected:"));
        assertThat(errors).anySatisfy(e -> assertThat(e).startsWith("accounts[2].name: acme").contains("unique"));
        assertThat(errors).anySatisfy(e -> assertThat(e).startsWith("services[0].listeners[0].targets[0]: git.internal"));
        assertThat(errors).anySatisfy(e -> assertThat(e).startsWith("endpoints[2].ports.443: 2222").contains("used once"));
    }

    @Test
    void rejectsPortZeroTargetsInAServiceAndABadRange() throws IOException {
        GatewayConfig c = GatewayConfig.load(write("""
                agentListen: nowhere
                endpointPorts: 30000-20000
                dialTimeoutSeconds: 0
                accounts: [{name: acme}]
                services:
                  - name: db
                    account: acme
                    listeners:
                      - port: 5432
                        targets: ["db.internal:0"]
                      - port: 5432
                        targets: ["db.internal:5432"]
                  - name: db
                    account: acme
                """));
        assertThat(c.validate()).extracting(GatewayConfigTest::field).containsExactlyInAnyOrder(
                "agentListen",
                "endpointPorts",
                "dialTimeoutSeconds",
                "services[0].listeners[0].targets[0]",
                "services[0].listeners[1].port",
                "services[1].name",
                "services[1].listeners");
    }

    @Test
    void unknownKeyFailsTheLoadNamingTheFileAndTheKey() throws IOException {
        Path file = write("""
                agentListen: 127.0.0.1:8443
                agentListn: 127.0.0.1:9443
                """);
        assertThatThrownBy(() -> GatewayConfig.load(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("agentListn");
    }

    @Test
    void unknownNestedKeyFailsTheLoadToo() throws IOException {
        Path file = write("""
                accounts: [{name: acme}]
                services:
                  - name: git
                    account: acme
                    listeners:
                      - port: 22
                        target: git.internal:22
                """);
        assertThatThrownBy(() -> GatewayConfig.load(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("target");
    }

    @Test
    void malformedYamlFailsTheLoadNamingTheFileAndLine() throws IOException {
        Path file = write("accounts:\n  - name: acme\n    agentTokens: [\n");
        assertThatThrownBy(() -> GatewayConfig.load(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("line");
    }
}
