package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.protocol.HostAndPort;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code underpass env} against the real API with a published forward proxy: the exports for
 * each shell, the key only on stdout and only inside the proxy URLs, and the sh output evaluated
 * by a real {@code /bin/sh}.
 */
class EnvCommandTest extends OperatorCliTest {
    static final HostAndPort PROXY = new HostAndPort("127.0.0.1", 43128);
    static final long SHELL_TIMEOUT_SECONDS = 20;
    /** Variables whose values are the proxy URLs, the only place the key may appear. */
    static final List<String> PROXY_URL_VARIABLES =
            List.of("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy");

    @Override
    void prepare(ApiFixture api) throws Exception {
        api.publishGateway(PROXY);
    }

    /** What every shell sets, in order, for the logged-in operator: name and value. */
    List<String[]> expected(String key) {
        String http = "http://underpass:" + key + "@127.0.0.1:43128";
        String socks = "socks5h://underpass:" + key + "@127.0.0.1:43128";
        return List.of(
                new String[] {"HTTP_PROXY", http},
                new String[] {"HTTPS_PROXY", http},
                new String[] {"http_proxy", http},
                new String[] {"https_proxy", http},
                new String[] {"ALL_PROXY", socks},
                new String[] {"all_proxy", socks},
                new String[] {"NO_PROXY", "localhost,127.0.0.1,::1"},
                new String[] {"no_proxy", "localhost,127.0.0.1,::1"},
                new String[] {"UNDERPASS_GATEWAY", api.gateway},
                new String[] {"UNDERPASS_PROXY", "127.0.0.1:43128"});
    }

    String script(String format, String key) {
        StringBuilder s = new StringBuilder("# underpass env for " + api.gateway
                + ": contains a secret (an API key in the proxy URLs); do not log, print or share it\n");
        for (String[] v : expected(key)) {
            s.append(format.formatted(v[0], v[1])).append('\n');
        }
        return s.toString();
    }

    @Test
    void theAccountGuardRefusesAnotherAccountsKeyAndPrintsNothing() {
        Cli.Run ok = operator.run("env", "--account", "operator");
        assertThat(ok.code()).as(ok.err()).isZero();
        Cli.Run wrong = operator.run("env", "--account", "platform");
        assertThat(wrong.code()).isEqualTo(2);
        assertThat(wrong.err()).contains("--account").contains("belongs to account operator, not platform");
        assertThat(wrong.out()).as("no key printed").isEmpty();
        assertThat(wrong.err()).doesNotContain(api.operatorKey);
    }

    @Test
    void printsTheExportsForEachShell() {
        String key = api.operatorKey;
        Cli.Run sh = operator.run("env");
        assertThat(sh.code()).as(sh.err()).isZero();
        assertThat(sh.out()).isEqualTo(script("export %s='%s'", key));
        assertThat(operator.run("env", "--shell", "sh").out()).isEqualTo(sh.out());

        Cli.Run fish = operator.run("env", "--shell", "fish");
        assertThat(fish.code()).as(fish.err()).isZero();
        assertThat(fish.out()).isEqualTo(script("set -gx %s '%s'", key));

        Cli.Run ps = operator.run("env", "--shell", "powershell");
        assertThat(ps.code()).as(ps.err()).isZero();
        assertThat(ps.out()).isEqualTo(script("$env:%s = '%s'", key));

        for (Cli.Run r : List.of(sh, fish, ps)) {
            assertThat(r.out().lines().findFirst().orElseThrow())
                    .startsWith("# ")
                    .contains("secret");
            assertThat(r.err()).doesNotContain(key);
        }

        Cli.Run bad = operator.run("env", "--shell", "csh");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--shell", "csh", "sh", "fish", "powershell");
        assertThat(bad.out()).isEmpty();
    }

    @Test
    void aKeyFileKeyAppearsOnlyOnStdoutAndOnlyInsideTheProxyUrls() throws Exception {
        Path runnerKey = dir.resolve("runner.key");
        Cli.Run created =
                operator.run("key", "create", "runner", "--scope", "endpoints:connect", "--out", runnerKey.toString());
        assertThat(created.code()).as(created.err()).isZero();
        String key = Files.readString(runnerKey).strip();

        Cli.Run r = operator.run("env", "--key-file", runnerKey.toString());

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).doesNotContain(key);
        assertThat(r.out()).doesNotContain(api.operatorKey).isEqualTo(script("export %s='%s'", key));
        Pattern export = Pattern.compile("export (\\w+)='([^']*)'");
        List<String> carrying = new ArrayList<>();
        for (String line : r.out().lines().toList()) {
            if (!line.contains(key)) {
                continue;
            }
            Matcher m = export.matcher(line);
            assertThat(m.matches()).as(line).isTrue();
            assertThat(m.group(1)).isIn(PROXY_URL_VARIABLES);
            URI url = URI.create(m.group(2));
            assertThat(url.getScheme()).isIn("http", "socks5h");
            assertThat(url.getRawUserInfo()).isEqualTo("underpass:" + key);
            assertThat(url.getHost() + ":" + url.getPort()).isEqualTo("127.0.0.1:43128");
            assertThat(m.group(2).replace("underpass:" + key + "@", "")).doesNotContain(key);
            carrying.add(m.group(1));
        }
        assertThat(carrying).containsExactlyElementsOf(PROXY_URL_VARIABLES);
    }

    @Test
    void aRefusedKeyPrintsNothingAndNeverEchoesTheKey() throws Exception {
        Path runnerKey = dir.resolve("runner.key");
        assertThat(operator.run("key", "create", "runner", "--out", runnerKey.toString())
                        .code())
                .isZero();
        String key = Files.readString(runnerKey).strip();
        String id = null;
        for (JsonNode k : ApiClient.JSON
                .readTree(operator.run("key", "list", "-o", "json").out())
                .path("items")) {
            if (k.path("name").asText().equals("runner")) {
                id = k.path("id").asText();
            }
        }
        assertThat(operator.run("key", "revoke", id).code()).as("revoke " + id).isZero();

        Cli.Run revoked = operator.run("env", "--key-file", runnerKey.toString());
        assertThat(revoked.code()).isEqualTo(1);
        assertThat(revoked.out()).isEmpty();
        assertThat(revoked.err()).contains("HTTP 401").doesNotContain(key);

        Path notAKey = dir.resolve("token.txt");
        String agentToken = "upa_" + "A".repeat(43);
        Files.writeString(notAKey, agentToken + "\n");
        Cli.Run wrong = operator.run("env", "--key-file", notAKey.toString());
        assertThat(wrong.code()).isEqualTo(2);
        assertThat(wrong.out()).isEmpty();
        assertThat(wrong.err()).contains("--key-file", "not of the form upk_").doesNotContain(agentToken);
    }

    @Test
    void beforeTheGatewayPublishedItsProxyItSaysSoAndPrintsNothing() throws Exception {
        try (ApiFixture starting = ApiFixture.start(dir.resolve("starting"))) {
            Cli cli = Cli.loggedIn(starting, dir.resolve("starting-cli"), starting.operatorKey);
            Cli.Run r = cli.run("env");
            assertThat(r.code()).isEqualTo(1);
            assertThat(r.out()).isEmpty();
            assertThat(r.err())
                    .contains("has not published its proxy address yet", "HTTP 503")
                    .doesNotContain(starting.operatorKey);
        }
    }

    @Test
    void theKeyIsPercentEncodedInTheUserInfo() {
        String key = "upk_a b+c/d:e@f%g'h\"i#j?k&l=é";
        String encoded = EnvCommand.userinfo(key);
        assertThat(encoded).isEqualTo("upk_a%20b%2Bc%2Fd%3Ae%40f%25g%27h%22i%23j%3Fk%26l%3D%C3%A9");
        for (String url : EnvCommand.variables("https://gw:9443", PROXY, key).values()) {
            if (url.contains("://") && !url.startsWith("https://gw")) {
                URI u = URI.create(url);
                assertThat(u.getUserInfo()).as(url).isEqualTo("underpass:" + key);
                assertThat(u.getHost()).isEqualTo("127.0.0.1");
                assertThat(u.getPort()).isEqualTo(43128);
            }
        }
        // Keys as the gateway makes them (base64url) need no encoding and stay as they are.
        assertThat(EnvCommand.userinfo("upk_AZaz09-_")).isEqualTo("upk_AZaz09-_");
        assertThat(EnvCommand.variables("https://gw:9443", new HostAndPort("::1", 3128), "upk_x")
                        .get("HTTPS_PROXY"))
                .isEqualTo("http://underpass:upk_x@[::1]:3128");
    }

    @Test
    void shEvaluatesThePrintedExportsToTheProxyUrl() throws Exception {
        Cli.Run r = operator.run("env");
        assertThat(r.code()).as(r.err()).isZero();
        Files.writeString(dir.resolve("out"), r.out());

        String printed = sh(dir, "eval \"$(cat out)\"; echo \"$HTTPS_PROXY\"");
        assertThat(printed).isEqualTo("http://underpass:" + api.operatorKey + "@127.0.0.1:43128\n");
        String more = sh(
                dir,
                "eval \"$(cat out)\"; printf '%s\\n' \"$ALL_PROXY\" \"$no_proxy\" \"$UNDERPASS_PROXY\" "
                        + "\"$UNDERPASS_GATEWAY\"; sh -c 'echo \"$http_proxy\"'");
        assertThat(more)
                .isEqualTo("socks5h://underpass:" + api.operatorKey + "@127.0.0.1:43128\nlocalhost,127.0.0.1,::1\n"
                        + "127.0.0.1:43128\n" + api.gateway + "\nhttp://underpass:" + api.operatorKey
                        + "@127.0.0.1:43128\n");
    }

    @Test
    void eachShellQuotesHostileValuesSafely() throws Exception {
        String hostile = "it's \"$HOME\" `id` $(echo pwned) \\ '' ; x\n\t%";
        Files.writeString(dir.resolve("hostile"), EnvCommand.Shell.sh.assign("V", hostile) + "\n");
        assertThat(sh(dir, "eval \"$(cat hostile)\"; printf '%s' \"$V\"")).isEqualTo(hostile);
        assertThat(sh(dir, ". ./hostile; sh -c 'printf %s \"$V\"'"))
                .as("exported")
                .isEqualTo(hostile);

        assertThat(EnvCommand.Shell.fish.assign("V", "a'b\\c")).isEqualTo("set -gx V 'a\\'b\\\\c'");
        assertThat(EnvCommand.Shell.powershell.assign("V", "a'b\u2019c$d")).isEqualTo("$env:V = 'a''b\u2019\u2019c$d'");
    }

    /** Runs {@code script} with a real {@code /bin/sh} in {@code cwd}, without proxy variables, bounded in time; its stdout. */
    static String sh(Path cwd, String script) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", script)
                .directory(cwd.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment()
                .keySet()
                .removeIf(n -> n.toLowerCase(java.util.Locale.ROOT).endsWith("_proxy") || n.startsWith("UNDERPASS_"));
        Process p = pb.start();
        try {
            // The output is small: read after the process ends, so a hang is caught by the timeout.
            assertThat(p.waitFor(SHELL_TIMEOUT_SECONDS, TimeUnit.SECONDS))
                    .as("/bin/sh ended within %ss", SHELL_TIMEOUT_SECONDS)
                    .isTrue();
            assertThat(p.exitValue()).as("exit code of /bin/sh -c %s", script).isZero();
            return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            p.destroyForcibly();
        }
    }
}
