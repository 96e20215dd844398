package dev.underpass.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.underpass.protocol.HostAndPort;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentConfigTest {
    private static final String TOKEN = "upa_Sup3rSecretTokenValue-ThatMustNeverBeShown";

    @TempDir
    Path dir;

    private static AgentConfig config(
            String gateway,
            String token,
            String tokenFile,
            String caFile,
            String pin,
            String proxy,
            Integer interval,
            Integer timeout,
            Integer dial,
            List<String> targets) {
        return new AgentConfig(
                gateway, "test-agent", token, tokenFile, caFile, pin, proxy, interval, timeout, dial, targets);
    }

    private static AgentConfig valid() {
        return config(
                "gateway.example.com:8443",
                TOKEN,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                List.of("db.internal:5432"));
    }

    private static String field(String error) {
        return error.substring(0, error.indexOf(':'));
    }

    @Test
    void aCompleteConfigurationIsValid() {
        assertThat(valid().validate()).isEmpty();
    }

    @Test
    void missingGatewayAndTokenAreReportedByField() {
        AgentConfig c = config(null, null, null, null, null, null, null, null, null, List.of("db:5432"));
        assertThat(c.validate()).extracting(AgentConfigTest::field).containsExactlyInAnyOrder("gateway", "token");
        assertThat(c.validate())
                .anySatisfy(e -> assertThat(e)
                        .startsWith("token: missing")
                        .contains("--token-file")
                        .contains(AgentConfig.TOKEN_ENV));
    }

    @Test
    void reportsEveryProblemWithItsField() {
        AgentConfig c = config(
                "gateway.example.com",
                null,
                dir.resolve("no-such-token").toString(),
                dir.resolve("no-such-ca.pem").toString(),
                "md5:abcd",
                "socks5://proxy.corp:1080",
                5,
                5,
                0,
                List.of("db.internal:5432", "db.internal", "cache:0"));
        assertThat(c.validate())
                .extracting(AgentConfigTest::field)
                .containsExactlyInAnyOrder(
                        "gateway",
                        "tokenFile",
                        "caFile",
                        "pin",
                        "proxy",
                        "dialTimeoutSeconds",
                        "heartbeatTimeoutSeconds",
                        "targets[1]",
                        "targets[2]");
        assertThat(c.validate()).allSatisfy(e -> assertThat(e).contains("(expected:"));
        assertThat(c.validate()).anySatisfy(e -> assertThat(e).startsWith("targets[1]: db.internal "));
        assertThat(c.validate())
                .anySatisfy(e ->
                        assertThat(e).startsWith("heartbeatTimeoutSeconds: 5").contains("heartbeatIntervalSeconds 5"));
    }

    @Test
    void linksToGatewayNodesDefaultToTwoAndStayWithinBounds() {
        assertThat(valid().linkCount()).isEqualTo(AgentConfig.DEFAULT_LINKS).isEqualTo(2);
        for (int bad : new int[] {0, -1, AgentConfig.MAX_LINKS + 1}) {
            AgentConfig c = valid().overriddenBy(links(bad));
            assertThat(c.validate())
                    .as("links %d", bad)
                    .extracting(AgentConfigTest::field)
                    .containsExactly("links");
        }
        AgentConfig four = valid().overriddenBy(links(4));
        assertThat(four.validate()).isEmpty();
        assertThat(four.linkCount()).isEqualTo(4);
    }

    private static AgentConfig links(int n) {
        return new AgentConfig(
                null, null, null, null, null, null, null, null, null, null, List.of(), null, null, null, null, null,
                null, List.of(), n);
    }

    @Test
    void heartbeatTimeoutMustExceedTheIntervalIncludingTheDefaults() {
        // Interval 6 s against the default timeout of 6 s.
        AgentConfig c = config("gw:8443", TOKEN, null, null, null, null, 6, null, null, List.of("db:5432"));
        assertThat(c.validate()).extracting(AgentConfigTest::field).containsExactly("heartbeatTimeoutSeconds");
        AgentConfig ok = config("gw:8443", TOKEN, null, null, null, null, 2, 3, null, List.of("db:5432"));
        assertThat(ok.validate()).isEmpty();
    }

    @Test
    void anAgentWithoutTargetsIsRejected() {
        AgentConfig c = config("gw:8443", TOKEN, null, null, null, null, null, null, null, null);
        assertThat(c.validate()).extracting(AgentConfigTest::field).containsExactly("targets");
        assertThat(c.validate().get(0)).startsWith("targets: []");
    }

    @Test
    void pinFormats() {
        String hex = "ab".repeat(32);
        String colons = String.join(":", java.util.Collections.nCopies(32, "AB"));
        for (String pin : List.of("sha256:" + hex, "sha256:" + colons)) {
            AgentConfig c = config("gw:8443", TOKEN, null, null, pin, null, null, null, null, List.of("db:5432"));
            assertThat(c.validate()).as(pin).isEmpty();
        }
        for (String pin : List.of(
                hex,
                "sha256:" + hex.substring(2),
                "sha256:" + "zz".repeat(32),
                "sha1:" + hex,
                "sha256:" + hex + "a",
                "sha256:" + colons + ":A",
                "sha256:" + ":".repeat(64))) {
            AgentConfig c = config("gw:8443", TOKEN, null, null, pin, null, null, null, null, List.of("db:5432"));
            assertThat(c.validate()).as(pin).extracting(AgentConfigTest::field).containsExactly("pin");
        }
    }

    @Test
    void proxyMustBePlainHttp() {
        for (String proxy : List.of("https://proxy.corp:3128", "socks5://proxy.corp:1080", "http://")) {
            AgentConfig c = config("gw:8443", TOKEN, null, null, null, proxy, null, null, null, List.of("db:5432"));
            assertThat(c.validate())
                    .as(proxy)
                    .extracting(AgentConfigTest::field)
                    .containsExactly("proxy");
        }
        AgentConfig ok = config(
                "gw:8443", TOKEN, null, null, null, "http://proxy.corp:3128", null, null, null, List.of("db:5432"));
        assertThat(ok.validate()).isEmpty();
    }

    @Test
    void blankTokenIsRejectedWithoutEchoingIt() {
        AgentConfig c = config("gw:8443", "   ", null, null, null, null, null, null, null, List.of("db:5432"));
        assertThat(c.validate()).extracting(AgentConfigTest::field).containsExactly("token");
    }

    @Test
    void noMessageContainsTheToken() {
        AgentConfig c = config(
                "gw",
                TOKEN,
                null,
                dir.resolve("missing-ca.pem").toString(),
                "sha256:x",
                "socks5://proxy:1080",
                0,
                0,
                0,
                List.of("db"));
        List<String> errors = c.validate();
        assertThat(errors).hasSizeGreaterThanOrEqualTo(8);
        assertThat(String.join("\n", errors)).doesNotContain(TOKEN).doesNotContain("Sup3rSecret");
    }

    @Test
    void aTokenGivenWhereAFileOrAddressBelongsIsNotEchoed() {
        // The usual mistakes: "--token-file upa_..." or the token pasted into another field.
        AgentConfig c = new AgentConfig(
                TOKEN,
                "x",
                null,
                TOKEN,
                TOKEN,
                "sha256:" + TOKEN,
                "socks5://alice:" + TOKEN + "@proxy.corp:1080",
                null,
                null,
                null,
                List.of(TOKEN));
        List<String> errors = c.validate();
        assertThat(errors)
                .extracting(AgentConfigTest::field)
                .containsExactlyInAnyOrder("gateway", "tokenFile", "caFile", "pin", "proxy", "targets[0]");
        assertThat(String.join("\n", errors)).doesNotContain("Sup3rSecret");
        assertThat(errors).anySatisfy(e -> assertThat(e).startsWith("tokenFile: upa_****"));
    }

    @Test
    void tokenFileIsReadAndTrimmed() throws IOException {
        Path file = dir.resolve("token");
        Files.writeString(file, TOKEN + "\n");
        AgentConfig c =
                config("gw:8443", null, file.toString(), null, null, null, null, null, null, List.of("db:5432"));
        assertThat(c.validate()).isEmpty();
        assertThat(c.resolveToken()).isEqualTo(TOKEN);
    }

    @Test
    void overriddenByLetsFlagsWinAndUnionsTargets() {
        AgentConfig file = new AgentConfig(
                "file-gw:8443",
                "file-name",
                null,
                "/etc/underpass/token",
                "/etc/ca.pem",
                null,
                "http://proxy:3128",
                3,
                9,
                4,
                List.of("a:1", "b:2"));
        AgentConfig flags = new AgentConfig(
                "flag-gw:9443",
                null,
                null,
                null,
                null,
                "sha256:" + "00".repeat(32),
                null,
                null,
                12,
                null,
                List.of("b:2", "c:3"));

        AgentConfig merged = file.overriddenBy(flags);

        assertThat(merged.gateway()).isEqualTo("flag-gw:9443");
        assertThat(merged.name()).isEqualTo("file-name");
        assertThat(merged.tokenFile()).isEqualTo("/etc/underpass/token");
        assertThat(merged.caFile()).isEqualTo("/etc/ca.pem");
        assertThat(merged.pin()).isEqualTo("sha256:" + "00".repeat(32));
        assertThat(merged.proxy()).isEqualTo("http://proxy:3128");
        assertThat(merged.heartbeatInterval()).isEqualTo(Duration.ofSeconds(3));
        assertThat(merged.heartbeatTimeout()).isEqualTo(Duration.ofSeconds(12));
        assertThat(merged.dialTimeout()).isEqualTo(Duration.ofSeconds(4));
        assertThat(merged.targets()).containsExactly("a:1", "b:2", "c:3");
        assertThat(AgentConfig.empty().overriddenBy(flags).targets()).containsExactly("b:2", "c:3");
    }

    @Test
    void targetAddressesAreParsedAndDeduplicatedCaseInsensitively() {
        AgentConfig c = config(
                "gw:8443",
                TOKEN,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                List.of("DB.internal:5432", "db.internal:5432", "[fd00::1]:22"));
        assertThat(c.targetAddresses())
                .containsExactly(new HostAndPort("db.internal", 5432), new HostAndPort("fd00::1", 22));
    }

    @Test
    void fileLoadsAndAnEmptyFileIsAnEmptyConfiguration() throws IOException {
        Path file = dir.resolve("agent.yaml");
        Files.writeString(
                file,
                "gateway: gw.example.com:8443\npin: sha256:%s\ntargets:\n  - db.internal:5432\n"
                        .formatted("ab".repeat(32)));
        AgentConfig c = AgentConfig.load(file);
        assertThat(c.gateway()).isEqualTo("gw.example.com:8443");
        assertThat(c.targets()).containsExactly("db.internal:5432");
        Files.writeString(file, "");
        assertThat(AgentConfig.load(file)).isEqualTo(AgentConfig.empty());
        Files.writeString(file, "# nothing yet\n");
        assertThat(AgentConfig.load(file)).isEqualTo(AgentConfig.empty());
    }

    @Test
    void targetNetworksComeFromTheFileAndFlagsAndMalformedOnesAreNamed() throws IOException {
        Path file = dir.resolve("agent.yaml");
        Files.writeString(
                file,
                "gateway: gw.example.com:8443\ntokenFile: " + dir.resolve("t") + "\ntargets: [db.internal:5432]\n"
                        + "targetNetworks: [10.20.0.0/16, 10.30.0.0]\n");
        Files.writeString(dir.resolve("t"), TOKEN);
        AgentConfig merged = AgentConfig.load(file)
                .overriddenBy(new AgentConfig(
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        null,
                        List.of("fd00:1::/48", "10.20.0.0/16"),
                        null));
        assertThat(merged.targetNetworks()).containsExactly("10.20.0.0/16", "10.30.0.0", "fd00:1::/48");
        assertThat(merged.validate())
                .containsExactly(
                        "targetNetworks[1]: 10.30.0.0 (expected: a CIDR block such as 10.20.0.0/16 or fd00:1234::/48)");
    }

    @Test
    void unknownKeyInTheFileFailsTheLoad() throws IOException {
        Path file = dir.resolve("agent.yaml");
        Files.writeString(file, "gateway: gw:8443\ntargetz: [db:5432]\n");
        assertThatThrownBy(() -> AgentConfig.load(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("targetz");
    }

    @Test
    void proxyWithoutCredentials() {
        AgentConfig.ProxySettings p = AgentConfig.ProxySettings.parse("http://proxy.corp:3128");
        assertThat(p.address()).isEqualTo(new HostAndPort("proxy.corp", 3128));
        assertThat(p.username()).isNull();
        assertThat(p.password()).isNull();
        assertThat(AgentConfig.ProxySettings.parse("proxy.corp:3128").address()).isEqualTo(p.address());
        assertThat(AgentConfig.ProxySettings.parse("http://proxy.corp")
                        .address()
                        .port())
                .isEqualTo(80);
    }

    @Test
    void proxyWithCredentials() {
        AgentConfig.ProxySettings p = AgentConfig.ProxySettings.parse("http://alice:s3cret@proxy.corp:3128");
        assertThat(p.address()).isEqualTo(new HostAndPort("proxy.corp", 3128));
        assertThat(p.username()).isEqualTo("alice");
        assertThat(p.password()).isEqualTo("s3cret");
        assertThat(p.toString()).doesNotContain("s3cret").contains("alice");
        assertThat(AgentConfig.ProxySettings.parse("http://alice:p%40ss@proxy.corp:3128")
                        .password())
                .isEqualTo("p@ss");
        assertThat(AgentConfig.ProxySettings.parse("http://alice@proxy.corp:3128")
                        .password())
                .isEmpty();
    }

    @Test
    void proxyOtherThanHttpIsRejected() {
        for (String url : List.of("https://proxy.corp:3128", "socks5://proxy.corp:1080", "http://:3128")) {
            assertThatThrownBy(() -> AgentConfig.ProxySettings.parse(url))
                    .as(url)
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void redactHidesThePassword() {
        assertThat(AgentConfig.ProxySettings.redact("http://alice:s3cret@proxy.corp:3128"))
                .isEqualTo("http://alice:****@proxy.corp:3128");
        assertThat(AgentConfig.ProxySettings.redact("http://proxy.corp:3128")).isEqualTo("http://proxy.corp:3128");
        assertThat(AgentConfig.ProxySettings.redact("http://alice@proxy.corp:3128"))
                .isEqualTo("http://alice@proxy.corp:3128");
    }

    @Test
    void redactHidesPasswordsHoldingUrlDelimiters() {
        // Generated passwords often hold '/', and people paste '@' unencoded.
        for (String password : List.of("with/slash+base64=", "with@at", "with:colon", "")) {
            String url = "socks5://alice:" + password + "@proxy.corp:1080";
            assertThat(AgentConfig.ProxySettings.redact(url)).as(url).isEqualTo("socks5://alice:****@proxy.corp:1080");
        }
    }

    @Test
    void invalidProxyErrorDoesNotLeakItsPassword() {
        AgentConfig c = config(
                "gw:8443",
                TOKEN,
                null,
                null,
                null,
                "http://alice:Xq/9@Zk7@proxy.corp:3128",
                null,
                null,
                null,
                List.of("db:5432"));
        assertThat(c.validate())
                .singleElement()
                .satisfies(e -> assertThat(e)
                        .startsWith("proxy: http://alice:****@proxy.corp:3128")
                        .doesNotContain("Xq")
                        .doesNotContain("Zk7"));
    }
}
