package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsServer;
import dev.underpass.testkit.Sha256;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

/**
 * Real clients through a real gateway and agent to real servers behind the agent: {@code curl}
 * against an HTTP server, {@code ssh} and {@code scp} against OpenSSH's {@code sshd}, and
 * {@code git clone} from {@code git daemon}. Every check compares content (bodies, SHA-256,
 * commit ids, the server's pinned host key), not just exit codes.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
@SuppressWarnings("BanJNDI") // JNDI's DNS provider is the test's DNS client: address strings, no objects
class InteropTest {
    static final long CLIENT_TIMEOUT_SECONDS = 120;
    static final String HELLO = "hello through underpass\n";
    static final int BIG_HTTP = 8 << 20;
    static final int BIG_GIT = 4 << 20;
    static final int BIG_SCP = 6 << 20;

    @TempDir
    static Path dir;

    static byte[] httpBig;
    static HttpServer http;
    static HttpsServer https;
    static ExecutorService httpPool;
    static ServerProcess sshd;
    static Path clientKey;
    static Path knownHosts;
    static ServerProcess gitDaemon;
    static String gitHead;
    static String gitBigSha256;
    static Tunnel tunnel;

    @BeforeAll
    static void start() throws Exception {
        Map<String, String> services = new LinkedHashMap<>();
        startHttp();
        services.put("http", "127.0.0.1:" + http.getAddress().getPort());
        startHttps();
        services.put("tls-web", "127.0.0.1:" + https.getAddress().getPort());
        if (have("sshd", "openssh-server") && have("ssh-keygen", "openssh-client")) {
            startSshd();
            services.put("ssh", sshd.address());
        }
        if (have("git", "git")) {
            startGitDaemon();
            services.put("git", gitDaemon.address());
        }
        tunnel = Tunnel.start(dir, services);
        serveHttpsAs(tunnel.endpointDnsName("tls-web"));
        if (sshd != null) {
            pinHostKey();
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (tunnel != null) {
            tunnel.close();
        }
        if (gitDaemon != null) {
            gitDaemon.close();
        }
        if (sshd != null) {
            sshd.close();
        }
        if (https != null) {
            https.stop(0);
        }
        if (http != null) {
            http.stop(0);
            httpPool.shutdownNow();
            httpPool.awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    // --- curl against an HTTP server ---------------------------------------------------------

    @Test
    void curlGetsASmallBody() throws Exception {
        String curl = Tools.require("curl", "curl");
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "--noproxy",
                "*",
                "http://127.0.0.1:" + tunnel.endpointPort("http") + "/hello");
        ok(r, "curl /hello");
        assertThat(r.output()).as(logs()).isEqualTo(HELLO);
    }

    // --- the forward proxy: CONNECT and SOCKS5 with an API key, by endpoint DNS name ---------

    @Test
    void curlReachesTheEndpointByNameThroughTheProxyWithConnect() throws Exception {
        String curl = Tools.require("curl", "curl");
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "-p",
                "-x",
                "http://runner:" + tunnel.platformKey() + "@127.0.0.1:" + tunnel.proxyPort(),
                "http://" + tunnel.endpointDnsName("http") + ":1/hello");
        ok(r, "curl -p -x (CONNECT)");
        assertThat(r.output()).as(logs()).isEqualTo(HELLO);
        tunnel.gateway()
                .awaitLog(
                        "CONNECT " + tunnel.endpointDnsName("http")
                                + ":1 from .* account=platform key=key-[0-9a-f]+ -> endpoint "
                                + tunnel.endpointId("http") + " port 1",
                        Tunnel.WAIT);
    }

    @Test
    void curlUsesTheProxyAsHttpProxyForAbsoluteFormRequestsWithABody() throws Exception {
        String curl = Tools.require("curl", "curl");
        String proxy = "http://runner:" + tunnel.platformKey() + "@127.0.0.1:" + tunnel.proxyPort();
        Run get = Run.of(
                dir,
                Map.of("http_proxy", proxy),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "http://" + tunnel.endpointDnsName("http") + ":1/hello");
        ok(get, "curl with http_proxy (absolute-form GET)");
        assertThat(get.output()).as(logs()).isEqualTo(HELLO);

        Path in = dir.resolve("proxy-upload.bin");
        byte[] payload = random(BIG_HTTP, 29);
        Files.write(in, payload);
        Run post = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "-x",
                proxy,
                "-H",
                "Expect:",
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
                "@" + in,
                "http://" + tunnel.endpointDnsName("http") + ":1/sha256");
        ok(post, "curl -x POST (absolute-form with an 8 MiB body)");
        assertThat(post.output()).as(logs()).isEqualTo(sha256(payload) + " " + payload.length + "\n");
        Run chunked = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "-x",
                proxy,
                "-H",
                "Expect:",
                "-H",
                "Transfer-Encoding: chunked",
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
                "@" + in,
                "http://" + tunnel.endpointDnsName("http") + ":1/sha256");
        ok(chunked, "curl -x POST with a chunked body");
        assertThat(chunked.output())
                .as("the chunked framing arrives intact")
                .isEqualTo(sha256(payload) + " " + payload.length + "\n");
        tunnel.gateway().awaitLog("POST " + tunnel.endpointDnsName("http") + ":1 from .* -> endpoint", Tunnel.WAIT);
    }

    @Test
    void curlReachesATlsServiceThroughTheTlsListenerByServerNameWithTlsEndToEnd() throws Exception {
        String curl = Tools.require("curl", "curl");
        String name = tunnel.endpointDnsName("tls-web");
        // curl checks the private server's own certificate: TLS runs end to end, the gateway only routes.
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "--noproxy",
                "*",
                "--cacert",
                httpsCa.toString(),
                "--resolve",
                name + ":" + tunnel.sniPort() + ":127.0.0.1",
                "https://" + name + ":" + tunnel.sniPort() + "/hello");
        ok(r, "curl https:// through the TLS listener");
        assertThat(r.output()).as(logs()).isEqualTo("hello over TLS\n");
        tunnel.gateway()
                .awaitLog(
                        "TLS connection from .* for " + java.util.regex.Pattern.quote(name) + " -> endpoint "
                                + tunnel.endpointId("tls-web"),
                        Tunnel.WAIT);
        Run unknown = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "-k",
                "--resolve",
                "nobody.example:" + tunnel.sniPort() + ":127.0.0.1",
                "https://nobody.example:" + tunnel.sniPort() + "/");
        assertThat(unknown.exitCode()).as(unknown.output()).isNotZero();
        tunnel.gateway().awaitLog("server name nobody.example is no available endpoint", Tunnel.WAIT);
    }

    @Test
    void theGatewayAnswersDnsForEndpointNamesWithTheTlsListenerOrTheirPortsAndRefusesOthers() throws Exception {
        java.util.Hashtable<String, String> env = new java.util.Hashtable<>();
        env.put("java.naming.factory.initial", "com.sun.jndi.dns.DnsContextFactory");
        env.put("java.naming.provider.url", "dns://127.0.0.1:" + tunnel.dnsPort());
        javax.naming.directory.InitialDirContext dns = new javax.naming.directory.InitialDirContext(env);
        try {
            String name = tunnel.endpointDnsName("tls-web");
            var a = dns.getAttributes(name, new String[] {"A"}).get("A");
            assertThat(a.get()).as("the TLS listener's address").isEqualTo("127.0.0.1");
            // Resolved there, the name reaches the private service through the TLS listener.
            String curl = Tools.require("curl", "curl");
            Run r = Run.of(
                    dir,
                    Map.of(),
                    CLIENT_TIMEOUT_SECONDS,
                    curl,
                    "-sS",
                    "--fail",
                    "--noproxy",
                    "*",
                    "--cacert",
                    httpsCa.toString(),
                    "--resolve",
                    name + ":" + tunnel.sniPort() + ":" + a.get(),
                    "https://" + name + ":" + tunnel.sniPort() + "/hello");
            ok(r, "curl https:// to the address the gateway's DNS gave");
            assertThat(r.output()).isEqualTo("hello over TLS\n");
            // An endpoint without a TLS port answers with where its ports listen (issue 12: NXDOMAIN).
            assertThat(dns.getAttributes(tunnel.endpointDnsName("http"), new String[] {"A"})
                            .get("A")
                            .get())
                    .as("the endpoint ports' address")
                    .isEqualTo("127.0.0.1");
            org.assertj.core.api.Assertions.assertThatThrownBy(
                            () -> dns.getAttributes("github.com", new String[] {"A"}))
                    .as("not a recursive resolver")
                    .isInstanceOf(javax.naming.NamingException.class);
        } finally {
            dns.close();
        }
    }

    @Test
    void underpassTestReportsEachHopForTcpSshAndTlsEndpoints() throws Exception {
        Path key = dir.resolve("platform.key");
        Files.writeString(key, tunnel.platformKey() + "\n");
        Cli platform = new Cli(dir, "platform-test");
        platform.run(
                        "login",
                        "--gateway",
                        "https://localhost:" + tunnel.apiPort(),
                        "--ca-file",
                        tunnel.caFile().toString(),
                        "--key-file",
                        key.toString())
                .ok("login");

        // The agent's default TCP check finds the target healthy on its first pass, soon after the session starts.
        JsonNode http = platform.json("test", tunnel.endpointId("http"));
        for (int i = 0; i < 60 && !verdicts(http).contains("target health=pass"); i++) {
            Thread.sleep(500);
            http = platform.json("test", tunnel.endpointId("http"));
        }
        assertThat(verdicts(http))
                .containsExactly(
                        "gateway=pass", "endpoint=pass", "agents=pass", "target health=pass", "tcp=pass", "tls=skip");
        assertThat(http.toString()).contains("1 of 1 target(s) of port 1 healthy");
        assertThat(http.get("ok").asBoolean()).isTrue();

        JsonNode tls = platform.json("test", tunnel.endpointId("tls-web"), "--port", "443");
        assertThat(verdicts(tls)).contains("tcp=pass", "tls=pass");
        assertThat(tls.toString())
                .contains("TLSv1.3 handshake with the target")
                .contains("CN=" + tunnel.endpointDnsName("tls-web"));

        if (sshd != null) {
            JsonNode ssh = platform.json("test", tunnel.endpointId("ssh"));
            assertThat(ssh.toString()).as("sshd speaks first").contains("the target spoke first: \\\"SSH-2.0-");
        }
        Cli.Result unknown = platform.run("test", "ep-0000000000000000");
        assertThat(unknown.exitCode()).isEqualTo(1);
        assertThat(unknown.out()).contains("endpoint").contains("FAIL").contains("does not exist");
    }

    private static List<String> verdicts(JsonNode result) {
        List<String> v = new java.util.ArrayList<>();
        result.get("checks")
                .forEach(c ->
                        v.add(c.get("check").asText() + "=" + c.get("verdict").asText()));
        return v;
    }

    @Test
    void curlReachesTheEndpointByNameThroughTheProxyWithSocks5() throws Exception {
        String curl = Tools.require("curl", "curl");
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "-x",
                "socks5h://runner:" + tunnel.platformKey() + "@127.0.0.1:" + tunnel.proxyPort(),
                "http://" + tunnel.endpointDnsName("http") + ":1/hello");
        ok(r, "curl -x socks5h://");
        assertThat(r.output()).as(logs()).isEqualTo(HELLO);
        tunnel.gateway()
                .awaitLog(
                        "SOCKS5 CONNECT " + tunnel.endpointDnsName("http")
                                + ":1 from .* account=platform key=key-[0-9a-f]+ -> endpoint "
                                + tunnel.endpointId("http") + " port 1",
                        Tunnel.WAIT);
    }

    @Test
    void theProxyRefusesWithoutAKeyAnotherAccountsEndpointAndPublicNames() throws Exception {
        String curl = Tools.require("curl", "curl");
        String name = tunnel.endpointDnsName("http");
        String proxy = "127.0.0.1:" + tunnel.proxyPort();
        Run noKey = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "-p",
                "-x",
                "http://" + proxy,
                "http://" + name + ":1/hello");
        assertThat(noKey.exitCode()).as(noKey.output()).isNotZero();
        assertThat(noKey.output()).contains("407");
        Run badKey = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "-p",
                "-x",
                "http://runner:upk_not-a-key@" + proxy,
                "http://" + name + ":1/hello");
        assertThat(badKey.output()).contains("407");
        Run otherAccount = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "-p",
                "-x",
                "http://runner:" + tunnel.acmeKey() + "@" + proxy,
                "http://" + name + ":1/hello");
        assertThat(otherAccount.output())
                .as("acme has no endpoint by that name")
                .contains("403");
        Run publicName = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "-p",
                "-x",
                "http://runner:" + tunnel.platformKey() + "@" + proxy,
                "http://example.com:80/");
        assertThat(publicName.output()).as("no public egress").contains("403");
        Run socksOther = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "-x",
                "socks5h://runner:" + tunnel.acmeKey() + "@" + proxy,
                "http://" + name + ":1/hello");
        assertThat(socksOther.exitCode()).as(socksOther.output()).isNotZero();
        tunnel.gateway().awaitLog("refused: 407", Tunnel.WAIT);
        tunnel.gateway()
                .awaitLog(
                        "SOCKS5 request from .* refused: .* is not an available endpoint of account acme", Tunnel.WAIT);
        assertThat(tunnel.gateway().output())
                .contains("refused: 403")
                .doesNotContain(tunnel.platformKey())
                .doesNotContain(tunnel.acmeKey());
    }

    @Test
    void curlDownloadsEightMebibytesWithTheSameSha256() throws Exception {
        String curl = Tools.require("curl", "curl");
        Path out = dir.resolve("curl-big.bin");
        ok(
                Run.of(
                        dir,
                        Map.of(),
                        CLIENT_TIMEOUT_SECONDS,
                        curl,
                        "-sS",
                        "--fail",
                        "--noproxy",
                        "*",
                        "-o",
                        out.toString(),
                        "http://127.0.0.1:" + tunnel.endpointPort("http") + "/big.bin"),
                "curl /big.bin");
        assertThat(Files.size(out)).as(logs()).isEqualTo(BIG_HTTP);
        assertThat(sha256(out)).as(logs()).isEqualTo(sha256(httpBig));
    }

    @Test
    void curlUploadsEightMebibytesAndTheServerHashesTheSameBytes() throws Exception {
        String curl = Tools.require("curl", "curl");
        Path in = dir.resolve("curl-upload.bin");
        byte[] payload = random(BIG_HTTP, 23);
        Files.write(in, payload);
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "--noproxy",
                "*",
                "-H",
                "Expect:",
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
                "@" + in,
                "http://127.0.0.1:" + tunnel.endpointPort("http") + "/sha256");
        ok(r, "curl POST /sha256");
        assertThat(r.output()).as(logs()).isEqualTo(sha256(payload) + " " + payload.length + "\n");
    }

    // --- ssh and scp against OpenSSH -----------------------------------------------------------

    @Test
    void sshReachesTheEndpointByNameWithAProxyCommandThroughConnect() throws Exception {
        String ssh = Tools.require("ssh", "openssh-client");
        String socat = Tools.require("socat", "socat");
        Tools.require("sshd", "openssh-server");
        // socat speaks CONNECT to the gateway's proxy, with the consumer's key as the password.
        String proxyCommand = socat + " - PROXY:127.0.0.1:%h:%p,proxyport=" + tunnel.proxyPort() + ",proxyauth=runner:"
                + tunnel.platformKey();
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                ssh,
                "-F",
                "/dev/null",
                "-p",
                "1",
                "-o",
                "ProxyCommand=" + proxyCommand,
                "-o",
                "HostKeyAlias=[127.0.0.1]:" + tunnel.endpointPort("ssh"),
                "-i",
                clientKey.toString(),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "UserKnownHostsFile=" + knownHosts,
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=20",
                "-o",
                "LogLevel=ERROR",
                user() + "@" + tunnel.endpointDnsName("ssh"),
                "echo hello-through-the-proxy");
        ok(r, "ssh with a ProxyCommand");
        assertThat(r.output().lines().toList()).as(logs()).contains("hello-through-the-proxy");
        tunnel.gateway().awaitLog("CONNECT " + tunnel.endpointDnsName("ssh") + ":1 from", Tunnel.WAIT);
    }

    @Test
    void sshRunsACommandOnTheRealSshdBehindTheAgent() throws Exception {
        String ssh = Tools.require("ssh", "openssh-client");
        Tools.require("sshd", "openssh-server");
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                ssh,
                "-F",
                "/dev/null",
                "-p",
                String.valueOf(tunnel.endpointPort("ssh")),
                "-i",
                clientKey.toString(),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "UserKnownHostsFile=" + knownHosts,
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=20",
                "-o",
                "LogLevel=ERROR",
                user() + "@127.0.0.1",
                "echo hello-through-underpass; head -c 1048576 /dev/zero | sha256sum");
        ok(r, "ssh");
        assertThat(r.output().lines().toList())
                .as(logs())
                .containsSubsequence("hello-through-underpass", sha256(new byte[1 << 20]) + "  -");
    }

    @Test
    void scpCopiesFilesBothWaysWithTheSameSha256() throws Exception {
        String scp = Tools.require("scp", "openssh-client");
        Tools.require("sshd", "openssh-server");
        Path sshDir = dir.resolve("sshd");
        byte[] up = random(BIG_SCP, 31);
        byte[] down = random(BIG_SCP, 37);
        Path localUp = dir.resolve("scp-up.bin");
        Path remoteUp = sshDir.resolve("uploaded.bin");
        Path remoteDown = sshDir.resolve("served.bin");
        Path localDown = dir.resolve("scp-down.bin");
        Files.write(localUp, up);
        Files.write(remoteDown, down);
        String target = user() + "@127.0.0.1:";
        ok(
                Run.of(dir, Map.of(), CLIENT_TIMEOUT_SECONDS, scpCommand(scp, localUp.toString(), target + remoteUp)),
                "scp upload");
        ok(
                Run.of(
                        dir,
                        Map.of(),
                        CLIENT_TIMEOUT_SECONDS,
                        scpCommand(scp, target + remoteDown, localDown.toString())),
                "scp download");
        assertThat(sha256(remoteUp)).as(logs()).isEqualTo(sha256(up));
        assertThat(sha256(localDown)).as(logs()).isEqualTo(sha256(down));
    }

    // --- git clone from git daemon -------------------------------------------------------------

    @Test
    void gitCloneThroughTheTunnelGetsTheSameCommitsAndBytes() throws Exception {
        String git = Tools.require("git", "git");
        Path clone = dir.resolve("clone-dir");
        ok(
                Run.of(
                        dir,
                        gitEnv(),
                        CLIENT_TIMEOUT_SECONDS,
                        git,
                        "clone",
                        "-q",
                        "git://127.0.0.1:" + tunnel.endpointPort("git") + "/repo.git",
                        clone.toString()),
                "git clone");
        Run head = ok(
                Run.of(dir, gitEnv(), CLIENT_TIMEOUT_SECONDS, git, "-C", clone.toString(), "rev-parse", "HEAD"),
                "rev-parse");
        assertThat(head.output().trim()).as(logs()).isEqualTo(gitHead);
        Run count = ok(
                Run.of(
                        dir,
                        gitEnv(),
                        CLIENT_TIMEOUT_SECONDS,
                        git,
                        "-C",
                        clone.toString(),
                        "rev-list",
                        "--count",
                        "HEAD"),
                "rev-list");
        assertThat(count.output().trim()).isEqualTo("3");
        assertThat(sha256(clone.resolve("big.bin"))).as(logs()).isEqualTo(gitBigSha256);
        assertThat(Files.readString(clone.resolve("README"))).isEqualTo("second version\n");
    }

    @Test
    void gitClonesOverHttpsThroughTheForwardProxyByTheEndpointsName() throws Exception {
        String git = Tools.require("git", "git");
        Path clone = dir.resolve("clone-https");
        String name = tunnel.endpointDnsName("tls-web");
        Map<String, String> env = new java.util.HashMap<>(gitEnv());
        env.put("GIT_SSL_CAINFO", httpsCa.toString());
        ok(
                Run.of(
                        dir,
                        env,
                        CLIENT_TIMEOUT_SECONDS,
                        git,
                        "-c",
                        "http.proxy=http://runner:" + tunnel.platformKey() + "@127.0.0.1:" + tunnel.proxyPort(),
                        "clone",
                        "-q",
                        "https://" + name + "/git/repo.git",
                        clone.toString()),
                "git clone https:// through the proxy");
        Run head = ok(
                Run.of(dir, gitEnv(), CLIENT_TIMEOUT_SECONDS, git, "-C", clone.toString(), "rev-parse", "HEAD"),
                "rev-parse");
        assertThat(head.output().trim()).as(logs()).isEqualTo(gitHead);
        assertThat(sha256(clone.resolve("big.bin"))).as(logs()).isEqualTo(gitBigSha256);
        tunnel.gateway().awaitLog("CONNECT " + name + ":443 from", Tunnel.WAIT);
    }

    @Test
    void curlFetchesAnHttpsUrlThroughTheProxyWithTheServersOwnCertificate() throws Exception {
        String curl = Tools.require("curl", "curl");
        String name = tunnel.endpointDnsName("tls-web");
        Run r = Run.of(
                dir,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                curl,
                "-sS",
                "--fail",
                "--cacert",
                httpsCa.toString(),
                "-x",
                "http://runner:" + tunnel.platformKey() + "@127.0.0.1:" + tunnel.proxyPort(),
                "https://" + name + "/hello");
        ok(r, "curl -x https://");
        assertThat(r.output()).as(logs()).isEqualTo("hello over TLS\n");
    }

    // --- servers behind the agent --------------------------------------------------------------

    static Path httpsCa;
    /** The bare repositories, served read-only by the HTTPS server under /git/. */
    static Path gitServed;

    /** An HTTPS server, bound now and started once its certificate names the endpoint it is reached by. */
    private static void startHttps() throws IOException {
        https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        https.createContext("/git/", exchange -> {
            Path file = gitServed == null
                    ? null
                    : gitServed
                            .resolve(exchange.getRequestURI().getPath().substring("/git/".length()))
                            .normalize();
            if (file == null || !file.startsWith(gitServed) || !Files.isRegularFile(file)) {
                exchange.sendResponseHeaders(404, -1);
            } else {
                byte[] body = Files.readAllBytes(file);
                exchange.sendResponseHeaders(200, body.length);
                exchange.getResponseBody().write(body);
            }
            exchange.close();
        });
        https.createContext("/hello", exchange -> {
            byte[] body = "hello over TLS\n".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
    }

    /** The private service's own certificate, from its own CA, for the endpoint's name. */
    private static void serveHttpsAs(String name) throws Exception {
        var certs = dev.underpass.gateway.pki.GatewayCertificates.ensure(dir.resolve("https-tls"), List.of(name));
        httpsCa = certs.caFile();
        io.netty.handler.ssl.SslContext netty = io.netty.handler.ssl.SslContextBuilder.forServer(
                        certs.certificateFile().toFile(), certs.privateKeyFile().toFile())
                .sslProvider(io.netty.handler.ssl.SslProvider.JDK)
                .build();
        https.setHttpsConfigurator(
                new com.sun.net.httpserver.HttpsConfigurator(((io.netty.handler.ssl.JdkSslContext) netty).context()));
        https.start();
    }

    private static void startHttp() throws IOException {
        httpBig = random(BIG_HTTP, 17);
        httpPool = Executors.newVirtualThreadPerTaskExecutor();
        http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        http.setExecutor(httpPool);
        http.createContext("/hello", ex -> respond(ex, HELLO.getBytes(StandardCharsets.UTF_8)));
        http.createContext("/big.bin", ex -> respond(ex, httpBig));
        http.createContext("/sha256", ex -> {
            Sha256 sha = new Sha256();
            long total = 0;
            try (InputStream in = ex.getRequestBody()) {
                byte[] buf = new byte[64 * 1024];
                int n;
                while ((n = in.read(buf)) != -1) {
                    sha.update(buf, 0, n);
                    total += n;
                }
            }
            respond(ex, (sha.hex() + " " + total + "\n").getBytes(StandardCharsets.US_ASCII));
        });
        http.start();
    }

    private static void respond(HttpExchange ex, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "application/octet-stream");
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    private static void startSshd() throws Exception {
        String sshdPath = Tools.require("sshd", "openssh-server");
        String keygen = Tools.require("ssh-keygen", "openssh-client");
        Path sshDir = Files.createDirectories(dir.resolve("sshd"));
        Path hostKey = sshDir.resolve("host_ed25519");
        clientKey = sshDir.resolve("client_ed25519");
        ok(
                Run.of(
                        sshDir,
                        Map.of(),
                        60,
                        keygen,
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        "underpass-host",
                        "-f",
                        hostKey.toString()),
                "ssh-keygen host");
        ok(
                Run.of(
                        sshDir,
                        Map.of(),
                        60,
                        keygen,
                        "-q",
                        "-t",
                        "ed25519",
                        "-N",
                        "",
                        "-C",
                        "underpass-client",
                        "-f",
                        clientKey.toString()),
                "ssh-keygen client");
        Path authorizedKeys = sshDir.resolve("authorized_keys");
        Files.copy(sshDir.resolve("client_ed25519.pub"), authorizedKeys);
        // sshd's privilege-separation directory; packages create it at boot, containers may not have it.
        Files.createDirectories(Path.of("/run/sshd"));
        int port = ServerProcess.freePort();
        // The client pins the host key under the endpoint's address: it must reach this sshd, nothing else.
        knownHosts = sshDir.resolve("known_hosts");
        Path config = sshDir.resolve("sshd_config");
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "ListenAddress 127.0.0.1",
                        "HostKey " + hostKey,
                        "PidFile " + sshDir.resolve("sshd.pid"),
                        "UsePAM no",
                        "StrictModes no",
                        "PermitRootLogin yes",
                        "PubkeyAuthentication yes",
                        "PasswordAuthentication no",
                        "KbdInteractiveAuthentication no",
                        "AuthorizedKeysFile " + authorizedKeys,
                        "PrintMotd no",
                        "Subsystem sftp internal-sftp",
                        ""));
        sshd = ServerProcess.start(
                "sshd", sshDir, port, sshdPath, "-D", "-e", "-f", config.toString(), "-p", String.valueOf(port));
    }

    /** Called once the tunnel is up: the known_hosts entry names the endpoint port. */
    private static void pinHostKey() throws IOException {
        String hostPub = Files.readString(dir.resolve("sshd").resolve("host_ed25519.pub"))
                .trim();
        Files.writeString(knownHosts, "[127.0.0.1]:" + tunnel.endpointPort("ssh") + " " + hostPub + "\n");
    }

    private static void startGitDaemon() throws Exception {
        String git = Tools.require("git", "git");
        Path gitDir = Files.createDirectories(dir.resolve("git"));
        Path work = gitDir.resolve("work");
        Path base = Files.createDirectories(gitDir.resolve("served"));
        Map<String, String> env = gitEnv();
        ok(Run.of(gitDir, env, 60, git, "init", "-q", "-b", "main", work.toString()), "git init");
        String[] commit = {
            git, "-C", work.toString(), "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m"
        };
        Files.writeString(work.resolve("README"), "first version\n");
        ok(Run.of(gitDir, env, 60, git, "-C", work.toString(), "add", "README"), "git add");
        ok(Run.of(gitDir, env, 60, concat(commit, "first")), "git commit 1");
        byte[] big = random(BIG_GIT, 29);
        gitBigSha256 = sha256(big);
        Files.write(work.resolve("big.bin"), big);
        ok(Run.of(gitDir, env, 60, git, "-C", work.toString(), "add", "big.bin"), "git add");
        ok(Run.of(gitDir, env, 60, concat(commit, "big file")), "git commit 2");
        Files.writeString(work.resolve("README"), "second version\n");
        ok(Run.of(gitDir, env, 60, git, "-C", work.toString(), "add", "README"), "git add");
        ok(Run.of(gitDir, env, 60, concat(commit, "second")), "git commit 3");
        gitHead = ok(Run.of(gitDir, env, 60, git, "-C", work.toString(), "rev-parse", "HEAD"), "rev-parse")
                .output()
                .trim();
        ok(
                Run.of(
                        gitDir,
                        env,
                        60,
                        git,
                        "clone",
                        "-q",
                        "--bare",
                        work.toString(),
                        base.resolve("repo.git").toString()),
                "git clone --bare");
        // The files git's "dumb" HTTP protocol reads, so that the HTTPS server can serve the repository too.
        ok(
                Run.of(gitDir, env, 60, git, "--git-dir=" + base.resolve("repo.git"), "update-server-info"),
                "git update-server-info");
        gitServed = base;
        // Run git-daemon itself, not the "git daemon" wrapper, so the handle we stop is the server.
        String execPath = ok(Run.of(gitDir, env, 60, git, "--exec-path"), "git --exec-path")
                .output()
                .trim();
        int port = ServerProcess.freePort();
        gitDaemon = ServerProcess.start(
                "git-daemon",
                gitDir,
                port,
                Path.of(execPath, "git-daemon").toString(),
                "--reuseaddr",
                "--export-all",
                "--base-path=" + base,
                "--listen=127.0.0.1",
                "--port=" + port,
                base.toString());
    }

    // --- helpers -------------------------------------------------------------------------------

    private static boolean have(String tool, String pkg) {
        try {
            Tools.require(tool, pkg);
            return true;
        } catch (TestAbortedException e) {
            return false; // the tests that need it skip themselves with the reason
        }
    }

    private static String[] scpCommand(String scp, String from, String to) {
        return new String[] {
            scp,
            "-q",
            "-F",
            "/dev/null",
            "-P",
            String.valueOf(tunnel.endpointPort("ssh")),
            "-i",
            clientKey.toString(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "UserKnownHostsFile=" + knownHosts,
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "LogLevel=ERROR",
            from,
            to
        };
    }

    private static String user() {
        return System.getProperty("user.name");
    }

    private static Map<String, String> gitEnv() {
        return Map.of("GIT_CONFIG_NOSYSTEM", "1", "GIT_CONFIG_GLOBAL", "/dev/null", "GIT_TERMINAL_PROMPT", "0");
    }

    private static String[] concat(String[] head, String last) {
        String[] all = Arrays.copyOf(head, head.length + 1);
        all[head.length] = last;
        return all;
    }

    private static Run ok(Run r, String what) {
        if (r.exitCode() != 0) {
            throw new AssertionError(
                    what + " exited with " + r.exitCode() + "; output:\n" + r.output() + "\n" + logs());
        }
        return r;
    }

    /** Everything the processes logged, for failure messages. */
    private static String logs() {
        StringBuilder b = new StringBuilder();
        if (tunnel != null) {
            b.append("--- gateway:\n")
                    .append(tunnel.gateway().output())
                    .append("--- agent:\n")
                    .append(tunnel.agent().output());
        }
        if (sshd != null) {
            b.append("--- sshd:\n").append(sshd.output());
        }
        if (gitDaemon != null) {
            b.append("--- git-daemon:\n").append(gitDaemon.output());
        }
        return b.toString();
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static String sha256(byte[] b) {
        Sha256 sha = new Sha256();
        sha.update(b, 0, b.length);
        return sha.hex();
    }

    private static String sha256(Path file) throws IOException {
        Sha256 sha = new Sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = in.read(buf)) != -1) {
                sha.update(buf, 0, n);
            }
        }
        return sha.hex();
    }
}
