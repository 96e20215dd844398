package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GatewayConfigTest {
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
                apiListen: 0.0.0.0:9443
                endpointBind: 0.0.0.0
                endpointPorts: 21000-21010
                endpointDomain: endpoints.example.com
                serverNames: [gateway.example.com, 127.0.0.1]
                store:
                  url: jdbc:postgresql://db.example.com:5432/underpass
                  user: gw
                heartbeatTimeoutSeconds: 10
                dialTimeoutSeconds: 5
                connectionRequestTtlHours: 48
                dnsServer: 127.0.0.53:53
                """));

        assertThat(c.validate()).isEmpty();
        assertThat(c.agentListenAddress().port()).isEqualTo(8443);
        assertThat(c.apiListenAddress().port()).isEqualTo(9443);
        assertThat(c.endpointPortRange()).containsExactly(21000, 21010);
        assertThat(c.serverNames()).containsExactly("gateway.example.com", "127.0.0.1");
        assertThat(c.consumerHost())
                .as("a wildcard bind is reached by the gateway's name")
                .isEqualTo("gateway.example.com");
        assertThat(c.heartbeatTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(c.dialTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.connectionRequestTtl()).isEqualTo(Duration.ofHours(48));
        assertThat(c.storeConfig(dir).url()).isEqualTo("jdbc:postgresql://db.example.com:5432/underpass");
        assertThat(c.storeConfig(dir).user()).isEqualTo("gw");
    }

    @Test
    void clusterSettingsNameTheNodeAndWhereAgentsReachIt() throws IOException {
        GatewayConfig c = GatewayConfig.load(write("""
                agentListen: 0.0.0.0:8443
                serverNames: [gw1.example.com]
                drainNotReadySeconds: 3
                cluster:
                  nodeId: gw-1
                """));
        assertThat(c.validate()).isEmpty();
        assertThat(c.drainNotReady()).isEqualTo(Duration.ofSeconds(3));
        assertThat(c.advertisedAgentAddress(8443))
                .as("a wildcard: the first server name")
                .hasToString("gw1.example.com:8443");
        assertThat(GatewayConfig.load(write("agentListen: 10.0.0.11:8443\n")).advertisedAgentAddress(8443))
                .hasToString("10.0.0.11:8443");
        assertThat(GatewayConfig.load(write("cluster:\n  advertise: lb.example.com:443\n"))
                        .advertisedAgentAddress(8443))
                .hasToString("lb.example.com:443");

        GatewayConfig bad = GatewayConfig.load(write("""
                drainNotReadySeconds: -1
                cluster:
                  nodeId: "-bad id"
                  advertise: "no port"
                """));
        assertThat(bad.validate())
                .extracting(GatewayConfigTest::field)
                .containsExactlyInAnyOrder("drainNotReadySeconds", "cluster.nodeId", "cluster.advertise");
    }

    @Test
    void omittedSettingsTakeTheDocumentedDefaults() throws IOException {
        GatewayConfig c = GatewayConfig.load(write("dialTimeoutSeconds: 3\n"));
        assertThat(c.validate()).isEmpty();
        assertThat(c.agentListen()).isEqualTo(GatewayConfig.DEFAULT_AGENT_LISTEN);
        assertThat(c.apiListen()).isEqualTo(GatewayConfig.DEFAULT_API_LISTEN).startsWith("127.0.0.1:");
        assertThat(c.endpointBind()).isEqualTo(GatewayConfig.DEFAULT_ENDPOINT_BIND);
        assertThat(c.consumerHost()).isEqualTo(GatewayConfig.DEFAULT_ENDPOINT_BIND);
        assertThat(c.endpointPorts()).isEqualTo(GatewayConfig.DEFAULT_ENDPOINT_PORTS);
        assertThat(c.heartbeatTimeout()).isEqualTo(GatewayConfig.DEFAULT_HEARTBEAT_TIMEOUT);
        assertThat(c.connectionRequestTtl()).isEqualTo(Duration.ofDays(7));
        assertThat(c.tls()).isNull();
        assertThat(c.storeConfig(dir).isEmbedded())
                .as("the embedded store under the data directory")
                .isTrue();
        assertThat(c.storeConfig(dir).url()).contains(dir.toString());
    }

    @Test
    void consumersReachTheProxyAtItsBindHostOrTheFirstServerNameForAWildcard() throws IOException {
        assertThat(GatewayConfig.defaults().proxyConsumerAddress(3128)).hasToString("127.0.0.1:3128");
        for (String wildcard : List.of("0.0.0.0:0", "[::]:0")) {
            GatewayConfig c = GatewayConfig.load(write("proxyListen: \"" + wildcard + "\"\n"
                    + "endpointHost: endpoints-only.example.com\nserverNames: [gw.example.com, 10.0.0.1]\n"));
            assertThat(c.proxyConsumerAddress(41000)).as(wildcard).hasToString("gw.example.com:41000");
        }
        GatewayConfig v6 = GatewayConfig.defaults().withListen(null, null, "[::1]:3128");
        assertThat(v6.proxyConsumerAddress(3128)).hasToString("[::1]:3128");
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
                agentListen: nowhere
                apiListen: 127.0.0.1:99999
                endpointPorts: 30000-20000
                endpointDomain: Not A Domain
                heartbeatTimeoutSeconds: 1
                dialTimeoutSeconds: 0
                connectionRequestTtlHours: 0
                dnsServer: resolver
                tls:
                  certificate: /etc/underpass/gateway.pem
                store:
                  url: postgresql://db/underpass
                egressAllow: ["*:443", "github.com", "*.npmjs.org:*"]
                dnsForward: 10.0.0.2:53
                """));

        List<String> errors = c.validate();

        assertThat(errors)
                .extracting(GatewayConfigTest::field)
                .containsExactlyInAnyOrder(
                        "agentListen",
                        "apiListen",
                        "endpointPorts",
                        "endpointDomain",
                        "heartbeatTimeoutSeconds",
                        "dialTimeoutSeconds",
                        "connectionRequestTtlHours",
                        "dnsServer",
                        "tls",
                        "store.url",
                        "egressAllow[0]",
                        "egressAllow[1]",
                        "dnsForward");
        assertThat(errors).allSatisfy(e -> assertThat(e).contains("(expected:"));
        assertThat(errors)
                .anySatisfy(e -> assertThat(e)
                        .startsWith("store.url: postgresql://db/underpass")
                        .contains("JDBC URL"));
    }

    @Test
    void theStorePasswordIsNeverPartOfTheFileOrItsDescription() throws IOException {
        Path file = write("store:\n  url: jdbc:postgresql://db/underpass\n  password: secret\n");
        assertThatThrownBy(() -> GatewayConfig.load(file))
                .as("a password in the file is refused: it comes from " + GatewayConfig.STORE_PASSWORD_ENV)
                .isInstanceOf(IOException.class)
                .hasMessageContaining("password");
        GatewayConfig c = GatewayConfig.load(write("store:\n  url: jdbc:postgresql://db/underpass?password=x\n"));
        assertThat(c.storeConfig(dir).toString()).doesNotContain("password=x");
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
    void theConfigurationOfTheTunnelCoreIsRefusedWithAClearMessage() throws IOException {
        // Accounts, services and endpoints now live in the store, created through the API.
        Path file = write("accounts: [{name: acme}]\n");
        assertThatThrownBy(() -> GatewayConfig.load(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("accounts");
    }

    @Test
    void malformedYamlFailsTheLoadNamingTheFileAndLine() throws IOException {
        Path file = write("serverNames: [\n  a,\n");
        assertThatThrownBy(() -> GatewayConfig.load(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("line");
    }
}
