package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.UnderpassProcess;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Running a gateway and agents" on two hosts, with nothing but the README's
 * commands, flags and settings: from {@code underpass gateway} to a {@code git clone} over SSH
 * through an endpoint port and a {@code git clone} over HTTPS, by the service's verified private
 * DNS name, through the gateway's forward proxy, of a server whose certificate comes from the
 * customer's private CA; and the other direction, a client on the customer's LAN reaching a
 * platform service through an agent listener of the customer's agent.
 *
 * <p>The hosts are Linux network namespaces ({@code ip netns}), linked by veth pairs, with
 * addresses from 198.18.0.0/15 (reserved for such tests):
 *
 * <pre>
 *   platform host (agent)     gateway host              customer host (agent)            customer's git server
 *   198.18.4.1/24 ────veth──── 198.18.4.254/24
 *                              198.18.0.1/24 ────veth──── 198.18.0.2/24
 *                                                         198.18.2.254/24 ────veth──────── 198.18.2.1/24
 * </pre>
 *
 * <ul>
 *   <li><b>gateway host</b>: {@code underpass gateway} with its defaults (agent port 0.0.0.0:8443,
 *       API 127.0.0.1:9443, proxy 127.0.0.1:3128, endpoint ports on 127.0.0.1), every CLI command
 *       (operator, provider {@code acme}, consumer {@code platform}, runner), the consumers
 *       ({@code git clone}) and its DNS resolver ({@code dnsmasq} on 127.0.0.1:53, the host's
 *       {@code resolv.conf}), which serves the TXT record that proves acme owns
 *       {@code github.acme.test}.</li>
 *   <li><b>customer host</b>: {@code underpass agent}, dialling out to 198.18.0.1:8443. It knows
 *       {@code github.acme.test} from its own {@code /etc/hosts}.</li>
 *   <li><b>platform host</b> (the bidirectional test): platform's own agent, dialling out to
 *       198.18.4.254:8443, beside platform's HTTP API and PostgreSQL on its loopback.</li>
 *   <li><b>git server</b> ({@code github.acme.test}; also the customer's client of the platform's services): {@code sshd} on port 22 and a static HTTPS server (git's dumb HTTP
 *       protocol) on port 443 serving one repository. Only the customer host has a route to its
 *       network: the gateway host reaches it through the agent's outbound link or not at all.</li>
 * </ul>
 *
 * Every process runs as {@code ip netns exec NS command...} (which execs, so the test's handle is
 * the process) and is stopped by its handle; the namespaces (and their veth pairs) are deleted in
 * {@link #tearDown()}, also after a failure. Their names carry a random suffix, so runs side by
 * side or leftovers of a killed run do not clash. Without root the test is skipped; a missing tool,
 * or a kernel or container that refuses namespaces, skips it too, except under CI ({@code CI} set),
 * which must provide them ({@code scripts/install-test-tools.sh}).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class TwoHostTest {
    static final Duration WAIT = Duration.ofSeconds(90);
    static final long CLIENT_TIMEOUT_SECONDS = 120;
    static final String GATEWAY_ADDRESS = "198.18.0.1";
    static final String AGENT_ADDRESS = "198.18.0.2";
    static final String AGENT_LAN_ADDRESS = "198.18.2.254";
    static final String GIT_SERVER_ADDRESS = "198.18.2.1";
    static final String GATEWAY_PLATFORM_SIDE = "198.18.4.254";
    static final String PLATFORM_HOST_ADDRESS = "198.18.4.1";
    static final String GIT_SERVER_NAME = "github.acme.test";
    static final String README_TEXT = "acme's private repository, reached through underpass\n";
    /** The scope the README gives the runner's key ({@code key create runner --scope ...}). */
    static final String RUNNER_SCOPE = "endpoints:connect";
    /** An API key or agent token in clear: the prefix and more than a masked stub of its secret part. */
    static final Pattern RAW_SECRET = Pattern.compile("(upk_|upa_)[A-Za-z0-9_-]{16,}");

    @TempDir
    static Path dir;
    /** Closed in reverse order of creation: processes first, namespaces last. */
    static final Deque<AutoCloseable> cleanup = new ArrayDeque<>();

    static String ipCommand;
    static String git;
    static NetworkNamespace gatewayHost;
    static NetworkNamespace customerHost;
    static NetworkNamespace gitServerHost;
    static NetworkNamespace platformHost;
    static Path gatewayHome;
    static Path customerHome;
    static Path gitServerHome;
    static Path platformHome;

    static String commit;
    static Path clientKey;
    static Path privateCa;
    static ServerProcess sshd;
    static ServerProcess httpsServer;
    static ServerProcess dnsServer;
    static UnderpassProcess gateway;
    static UnderpassProcess agent;
    static UnderpassProcess platformAgent;
    static String endpointId;
    static JsonNode endpoint;

    @BeforeAll
    static void setUp() throws Exception {
        requireRootAndTools();
        makeTheHosts();
        startTheGitServer();
        // README "Running a gateway and agents", steps 1 to 5.
        startTheGateway();
        operatorCreatesTheTenants();
        acmePublishesGithubWithAVerifiedPrivateDnsName();
        startTheAgentOnTheCustomerHost();
        platformRequestsAnEndpointAndAcmeAcceptsIt();
    }

    @AfterAll
    static void tearDown() {
        while (!cleanup.isEmpty()) {
            try {
                cleanup.pop().close();
            } catch (Exception | AssertionError e) {
                System.err.println("TwoHostTest cleanup: " + e);
            }
        }
    }

    @Test
    @Order(1)
    void theGatewayHostHasNoRouteIntoTheCustomersNetwork() throws Exception {
        Run route = Run.of(gatewayHome, Map.of(), 30, gatewayHost.exec(ipCommand, "route", "get", GIT_SERVER_ADDRESS));
        assertThat(route.exitCode())
                .as("ip route get %s on the gateway host: %s", GIT_SERVER_ADDRESS, route.output())
                .isNotZero();
        assertThat(route.output()).contains("unreachable");
        Run agentRoute =
                Run.of(customerHome, Map.of(), 30, customerHost.exec(ipCommand, "route", "get", GIT_SERVER_ADDRESS));
        assertThat(agentRoute.exitCode())
                .as("the customer host reaches the git server: %s", agentRoute.output())
                .isZero();
    }

    @Test
    @Order(2)
    void gitCloneOverSshThroughTheEndpointPort() throws Exception {
        cloneOverSsh(gatewayHome.resolve("ssh-clone"));
    }

    /** {@code git clone} over SSH through the endpoint port into {@code clone}, which must succeed. */
    private static void cloneOverSsh(Path clone) throws Exception {
        String address = portAddress(22); // e.g. 127.0.0.1:20000, as `endpoint show` lists it
        String host = address.substring(0, address.lastIndexOf(':'));
        String port = address.substring(address.lastIndexOf(':') + 1);
        // The consumer pins the git server's own host key: SSH runs end to end, the gateway only carries bytes.
        Path knownHosts = gatewayHome.resolve("known_hosts");
        Files.writeString(
                knownHosts,
                "[" + host + "]:" + port + " "
                        + Files.readString(gitServerHome.resolve("host_ed25519.pub"))
                                .trim() + "\n");
        Map<String, String> env = new LinkedHashMap<>(gitEnv());
        env.put(
                "GIT_SSH_COMMAND",
                "ssh -F /dev/null -i " + clientKey + " -o IdentitiesOnly=yes -o BatchMode=yes"
                        + " -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + knownHosts
                        + " -o ConnectTimeout=30");
        String url = "ssh://root@" + host + ":" + port + gitServerHome.resolve("repo.git");
        Run r = Run.of(
                gatewayHome, env, CLIENT_TIMEOUT_SECONDS, gatewayHost.exec(git, "clone", "-q", url, clone.toString()));
        assertThat(r.exitCode())
                .as("git clone %s: %s%s", url, r.output(), logs())
                .isZero();
        assertCloned(clone);
    }

    @Test
    @Order(3)
    void gitCloneOverHttpsByThePrivateDnsNameThroughTheForwardProxy() throws Exception {
        // README: a key of the consumer account narrowed for the runner, then `underpass env` on the runner.
        assertThat(endpoint.get("dnsNames").toString())
                .as("endpoint show lists the verified private DNS name")
                .contains("\"" + GIT_SERVER_NAME + "\"");
        underpass("platform", "key", "create", "runner", "--scope", RUNNER_SCOPE, "--out", "runner.key")
                .ok("key create runner");
        Path clone = gatewayHome.resolve("https-clone");
        // The runner has no login of its own: the README's variables tell the CLI where the gateway is.
        Map<String, String> env = new LinkedHashMap<>(gitEnv());
        env.put("PATH", launcherDir() + File.pathSeparator + System.getenv("PATH"));
        env.put("UNDERPASS_SKIP_BUILD", "1");
        env.put(
                "UNDERPASS_CONFIG_DIR",
                Files.createDirectories(dir.resolve("cli-runner")).toString());
        env.put("UNDERPASS_GATEWAY", "https://localhost:9443");
        env.put("UNDERPASS_CA_FILE", "underpass-data/tls/ca.pem");
        env.put("GIT_SSL_CAINFO", privateCa.toString()); // git trusts acme's private CA, as acme's users do
        String script = "set -e\n"
                + "eval \"$(underpass env --key-file runner.key --account platform)\"\n"
                + "git clone -q https://" + GIT_SERVER_NAME + "/repo.git " + clone + "\n";
        Run r = Run.of(gatewayHome, env, CLIENT_TIMEOUT_SECONDS, gatewayHost.exec("bash", "-c", script));
        assertThat(r.exitCode())
                .as("eval underpass env; git clone https://%s/repo.git: %s%s", GIT_SERVER_NAME, r.output(), logs())
                .isZero();
        assertCloned(clone);
        gateway.awaitLog(
                "CONNECT " + Pattern.quote(GIT_SERVER_NAME) + ":443 from .* account=platform .*-> endpoint "
                        + endpointId,
                WAIT);
    }

    /**
     * Bidirectional (issue 16): platform publishes an HTTP API and a PostgreSQL on its own host
     * behind its own agent, which dials out to the gateway like acme's; acme's endpoints to them
     * are accepted, and acme's agent on the customer host, restarted with two agent listeners on
     * its LAN address, carries the customer's clients (on the git server host, which has no route
     * to the gateway host or the platform host) to them: a JDBC client writes 8 MiB and reads it
     * back with a checked answer; 1 GiB comes down, SHA-256 checked, while platform clones acme's
     * repository the other way over the same link; then 1 GiB goes up, hashed by the platform's API.
     */
    @Test
    @Order(4)
    void theCustomersLanReachesThePlatformsApiAndDatabaseThroughItsAgentWhilePlatformClonesTheOtherWay()
            throws Exception {
        Path site = Files.createDirectories(platformHome.resolve("api"));
        Path big = site.resolve("big.bin");
        writeRandom(big, 1L << 30);
        String expected = sha256(big);
        startThePlatformsApi(site);
        startThePlatformsDatabase();
        // Platform publishes both for acme and runs its own agent beside them.
        underpass("platform", "service", "create", "api", "--listener", "80=127.0.0.1:8088", "--allow", "acme")
                .ok("service create api");
        underpass("platform", "service", "create", "db", "--listener", "5432=127.0.0.1:5432", "--allow", "acme")
                .ok("service create db");
        underpass("platform", "agent-token", "create", "platform-dc", "--out", "platform-agent.token")
                .ok("agent-token create (platform)");
        Files.copy(gatewayHome.resolve("underpass-data/tls/ca.pem"), platformHome.resolve("ca.pem"));
        platformAgent = track(UnderpassProcess.start(
                "platform-agent",
                dir,
                platformHome,
                platformHost.prefix(),
                Map.of(
                        "UNDERPASS_AGENT_TOKEN",
                        Files.readString(gatewayHome.resolve("platform-agent.token"))
                                .strip()),
                "agent",
                "--gateway",
                GATEWAY_PLATFORM_SIDE + ":8443",
                "--ca-file",
                "ca.pem",
                "--target",
                "127.0.0.1:8088",
                "--target",
                "127.0.0.1:5432"));
        platformAgent.awaitLog("session \\d+ established", WAIT);
        // Acme requests an endpoint to each, platform accepts them.
        List<String> endpoints = new ArrayList<>();
        for (String service : List.of("api", "db")) {
            String id = json("acme", "endpoint", "create", "platform/" + service)
                    .get("id")
                    .asText();
            underpass("platform", "endpoint", "accept", id).ok("endpoint accept " + service + " (platform)");
            endpoints.add(id);
        }
        for (String id : endpoints) {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!"available"
                    .equals(json("acme", "endpoint", "show", id).path("state").asText())) {
                assertThat(System.nanoTime()).as("endpoint %s available", id).isLessThan(deadline);
                Thread.sleep(500);
            }
        }
        // Acme's agent, restarted with listeners on its LAN address, naming the services.
        agent.close();
        agent = startAcmesAgent(
                "agent-with-listeners",
                "--listen",
                AGENT_LAN_ADDRESS + ":8080 -> platform/api:80",
                "--listen",
                AGENT_LAN_ADDRESS + ":5432 -> platform/db:5432");
        agent.awaitLog(Pattern.quote("listening on /" + AGENT_LAN_ADDRESS + ":8080"), WAIT);
        agent.awaitLog(Pattern.quote("listening on /" + AGENT_LAN_ADDRESS + ":5432"), WAIT);
        assertThat(underpass("acme", "endpoint", "show", endpoints.get(1))
                        .ok("endpoint show")
                        .out())
                .contains("agent listeners:", AGENT_LAN_ADDRESS + ":5432", "open");

        // JDBC from the customer's LAN to the platform's PostgreSQL.
        Path client = gitServerHome.resolve("PlatformDbClient.java");
        Files.writeString(client, PLATFORM_DB_CLIENT);
        Run sql = Run.of(
                gitServerHome,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                gitServerHost.exec(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp",
                        Path.of(org.postgresql.Driver.class
                                        .getProtectionDomain()
                                        .getCodeSource()
                                        .getLocation()
                                        .toURI())
                                .toString(),
                        client.toString(),
                        "jdbc:postgresql://" + AGENT_LAN_ADDRESS + ":5432/postgres?sslmode=disable&connectTimeout=30"));
        assertThat(sql.exitCode())
                .as("JDBC through the agent listener: %s%s", sql.output(), logs())
                .isZero();
        assertThat(sql.output())
                .as("the platform's PostgreSQL answers through the agent listener")
                .contains("answer=42", "read back equal=true", "server address=127.0.0.1")
                .containsPattern("sha256 server=([0-9a-f]{64})\\s+sha256 client=\\1");
        System.out.print(sql.output());

        // Both directions at once over acme's one agent link.
        List<Throwable> cloneFailed = new java.util.concurrent.CopyOnWriteArrayList<>();
        Thread clone = Thread.ofPlatform().start(() -> {
            try {
                cloneOverSsh(gatewayHome.resolve("ssh-clone-during-listener"));
            } catch (Exception | AssertionError e) {
                cloneFailed.add(e);
            }
        });
        long started = System.nanoTime();
        Run download = Run.of(
                gitServerHome,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                gitServerHost.exec(
                        "bash",
                        "-c",
                        "set -o pipefail; curl -sS --fail http://" + AGENT_LAN_ADDRESS + ":8080/big.bin | sha256sum"));
        double seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf(
                "1 GiB through the agent listener (curl on the customer's LAN) in %.1f s, %.0f MiB/s%n",
                seconds, 1024 / seconds);
        clone.join(TimeUnit.SECONDS.toMillis(CLIENT_TIMEOUT_SECONDS));
        assertThat(download.exitCode())
                .as("curl through the agent listener: %s%s", download.output(), logs())
                .isZero();
        assertThat(download.output())
                .as("the SHA-256 of 1 GiB through the agent listener")
                .startsWith(expected);
        assertThat(clone.isAlive()).as("the clone the other way finished").isFalse();
        assertThat(cloneFailed).as("the clone the other way, at the same time").isEmpty();

        // And 1 GiB the other way: uploaded from the customer's LAN, hashed by the platform's API.
        started = System.nanoTime();
        Run upload = Run.of(
                gitServerHome,
                Map.of(),
                CLIENT_TIMEOUT_SECONDS,
                gitServerHost.exec(
                        "curl", "-sS", "--fail", "-T", big.toString(), "http://" + AGENT_LAN_ADDRESS + ":8080/upload"));
        seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf("1 GiB uploaded through the agent listener in %.1f s, %.0f MiB/s%n", seconds, 1024 / seconds);
        assertThat(upload.exitCode())
                .as("curl -T through the agent listener: %s%s", upload.output(), logs())
                .isZero();
        assertThat(upload.output().strip())
                .as("the SHA-256 the platform's API computed of 1 GiB uploaded through the agent listener")
                .isEqualTo(expected);
        Files.delete(big);
    }

    /** The platform's HTTP API on the platform host's loopback, port 8088, serving {@code site}. */
    private static void startThePlatformsApi(Path site) throws Exception {
        Path apiScript = platformHome.resolve("platform_api.py");
        Files.writeString(apiScript, PLATFORM_API);
        track(ServerProcess.startLogged(
                "platform-api",
                platformHome,
                "serving http",
                platformHost.exec(
                        Tools.require("python3", "python3"),
                        "-u",
                        apiScript.toString(),
                        "127.0.0.1",
                        "8088",
                        site.toString())));
    }

    /**
     * The platform's PostgreSQL on the platform host's loopback, port 5432: the binaries and an
     * initialised data directory from the library the other tests use (which starts and stops it
     * once on this loopback), then the server run there under {@code unshare --user}, as that
     * library runs it, since PostgreSQL refuses to run as root.
     */
    private static void startThePlatformsDatabase() throws Exception {
        Path binaries = Files.createDirectories(dir.resolve("pg-binaries"));
        Path data = platformHome.resolve("pg-data");
        EmbeddedPostgres.builder()
                .setOverrideWorkingDirectory(binaries.toFile())
                .setDataDirectory(data)
                .setCleanDataDirectory(false)
                .start()
                .close();
        Path postgres;
        try (var files = Files.walk(binaries)) {
            postgres = files.filter(f -> f.endsWith(Path.of("bin", "postgres")))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError("no bin/postgres under " + binaries));
        }
        track(ServerProcess.startLogged(
                "postgres",
                platformHome,
                "ready to accept connections",
                platformHost.exec(
                        Tools.require("unshare", "util-linux"),
                        "--user",
                        postgres.toString(),
                        "-D",
                        data.toString(),
                        "-p",
                        "5432",
                        "-c",
                        "listen_addresses=127.0.0.1",
                        "-c",
                        "unix_socket_directories=")));
    }

    /** {@code length} random bytes into {@code file}, a megabyte at a time. */
    private static void writeRandom(Path file, long length) throws IOException {
        byte[] block = new byte[1 << 20];
        java.util.Random random = new java.util.Random(16);
        try (var out = Files.newOutputStream(file)) {
            for (long left = length; left > 0; left -= block.length) {
                random.nextBytes(block);
                out.write(block, 0, (int) Math.min(block.length, left));
            }
        }
    }

    private static String sha256(Path file) throws Exception {
        java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
        byte[] buffer = new byte[1 << 20];
        try (var in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    @Test
    @Order(5)
    void theLogsHaveNoErrorAndNoSecret() throws Exception {
        List<String> secrets = new ArrayList<>();
        for (String file : List.of(
                "underpass-data/admin-key",
                "acme-owner.key",
                "platform-owner.key",
                "acme-agent.token",
                "runner.key",
                "platform-agent.token")) {
            Path f = gatewayHome.resolve(file);
            if (Files.exists(f)) {
                secrets.add(Files.readString(f).strip());
            }
        }
        for (UnderpassProcess p :
                platformAgent == null ? List.of(gateway, agent) : List.of(gateway, agent, platformAgent)) {
            String log = p.output();
            assertThat(log.lines().filter(l -> l.matches("^\\S+ ERROR .*")).toList())
                    .as("ERROR lines in\n%s", log)
                    .isEmpty();
            assertThat(RAW_SECRET.matcher(log).find())
                    .as("a raw key or token in\n%s", log)
                    .isFalse();
            for (String secret : secrets) {
                assertThat(log).as("a secret the CLI wrote to a file").doesNotContain(secret);
            }
        }
    }

    // --- the hosts ---------------------------------------------------------------------------

    private static void requireRootAndTools() throws IOException {
        Object uid = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        Assumptions.assumeTrue(
                Integer.valueOf(0).equals(uid),
                "network namespaces need root (ip netns add); this test runs as uid " + uid);
        ipCommand = Tools.require("ip", "iproute2");
        git = Tools.require("git", "git");
        Tools.require("ssh", "openssh-client");
        Tools.require("ssh-keygen", "openssh-client");
        Tools.require("sshd", "openssh-server");
        Tools.require("openssl", "openssl");
        Tools.require("python3", "python3");
        Tools.require("dnsmasq", "dnsmasq-base");
        Tools.require("unshare", "util-linux");
    }

    /**
     * The gateway host, the customer host, the customer's git server and the platform host, linked
     * as the class comment shows (before the gateway starts: its certificate names its addresses).
     */
    private static void makeTheHosts() throws Exception {
        String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        gatewayHost = namespace("up-gateway-" + suffix);
        customerHost = namespace("up-customer-" + suffix);
        gitServerHost = namespace("up-gitserver-" + suffix);
        platformHost = namespace("up-platform-" + suffix);
        gatewayHost.link("eth0", GATEWAY_ADDRESS + "/24", customerHost, "eth0", AGENT_ADDRESS + "/24");
        customerHost.link("eth1", AGENT_LAN_ADDRESS + "/24", gitServerHost, "eth0", GIT_SERVER_ADDRESS + "/24");
        gatewayHost.link("eth1", GATEWAY_PLATFORM_SIDE + "/24", platformHost, "eth0", PLATFORM_HOST_ADDRESS + "/24");
        // The customer's internal DNS name of its git server, known inside the customer network only.
        customerHost.etcFile("hosts", "127.0.0.1 localhost\n" + GIT_SERVER_ADDRESS + " " + GIT_SERVER_NAME + "\n");
        // The gateway host's resolver: dnsmasq on its loopback (started once acme knows which TXT record to publish).
        gatewayHost.etcFile("resolv.conf", "nameserver 127.0.0.1\n");
        gatewayHome = Files.createDirectories(dir.resolve("gateway-host"));
        customerHome = Files.createDirectories(dir.resolve("customer-host"));
        gitServerHome = Files.createDirectories(dir.resolve("git-server"));
        platformHome = Files.createDirectories(dir.resolve("platform-host"));
    }

    private static NetworkNamespace namespace(String name) throws Exception {
        NetworkNamespace.Created created = NetworkNamespace.create(ipCommand, name, dir);
        if (created.namespace() == null) {
            String reason = "cannot make network namespaces here: " + created.failure();
            if (System.getenv("CI") != null) {
                throw new AssertionError(reason);
            }
            Assumptions.abort(reason);
        }
        cleanup.push(created.namespace());
        return created.namespace();
    }

    /** On the git server host: a repository served by sshd (port 22) and over HTTPS (port 443, acme's private CA). */
    private static void startTheGitServer() throws Exception {
        makeTheRepository();
        String keygen = Tools.require("ssh-keygen", "openssh-client");
        Path hostKey = gitServerHome.resolve("host_ed25519");
        clientKey = gatewayHome.resolve("id_ed25519");
        must(
                "ssh-keygen (host key)",
                gitServerHome,
                Map.of(),
                keygen,
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                hostKey.toString());
        must(
                "ssh-keygen (client key)",
                gatewayHome,
                Map.of(),
                keygen,
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                clientKey.toString());
        Path authorizedKeys = gitServerHome.resolve("authorized_keys");
        Files.copy(gatewayHome.resolve("id_ed25519.pub"), authorizedKeys);
        Files.createDirectories(Path.of("/run/sshd")); // sshd's privilege-separation directory
        Path config = gitServerHome.resolve("sshd_config");
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "ListenAddress " + GIT_SERVER_ADDRESS + ":22",
                        "HostKey " + hostKey,
                        "PidFile " + gitServerHome.resolve("sshd.pid"),
                        "UsePAM no",
                        "StrictModes no",
                        "PermitRootLogin yes",
                        "PubkeyAuthentication yes",
                        "PasswordAuthentication no",
                        "KbdInteractiveAuthentication no",
                        "AuthorizedKeysFile " + authorizedKeys,
                        ""));
        sshd = track(ServerProcess.startLogged(
                "sshd",
                gitServerHome,
                "Server listening on " + Pattern.quote(GIT_SERVER_ADDRESS),
                gitServerHost.exec(Tools.require("sshd", "openssh-server"), "-D", "-e", "-f", config.toString())));

        makeThePrivateCaAndCertificate();
        Path server = gitServerHome.resolve("https_server.py");
        Files.writeString(server, HTTPS_SERVER);
        httpsServer = track(ServerProcess.startLogged(
                "https-server",
                gitServerHome,
                "serving https",
                gitServerHost.exec(
                        Tools.require("python3", "python3"),
                        "-u",
                        server.toString(),
                        GIT_SERVER_ADDRESS,
                        "443",
                        gitServerHome.resolve("server.pem").toString(),
                        gitServerHome.resolve("server-key.pem").toString(),
                        gitServerHome.toString())));
    }

    /** A repository with one commit, as a bare repository with the files git's dumb HTTP protocol reads. */
    private static void makeTheRepository() throws Exception {
        Path work = gitServerHome.resolve("work");
        must("git init", gitServerHome, gitEnv(), git, "init", "-q", "-b", "main", work.toString());
        Files.writeString(work.resolve("README"), README_TEXT);
        must("git add", gitServerHome, gitEnv(), git, "-C", work.toString(), "add", "README");
        must(
                "git commit",
                gitServerHome,
                gitEnv(),
                git,
                "-C",
                work.toString(),
                "-c",
                "user.name=acme",
                "-c",
                "user.email=git@acme.test",
                "commit",
                "-q",
                "-m",
                "first");
        commit = must("git rev-parse", gitServerHome, gitEnv(), git, "-C", work.toString(), "rev-parse", "HEAD")
                .output()
                .trim();
        Path bare = gitServerHome.resolve("repo.git");
        must(
                "git clone --bare",
                gitServerHome,
                gitEnv(),
                git,
                "clone",
                "-q",
                "--bare",
                work.toString(),
                bare.toString());
        must("git update-server-info", gitServerHome, gitEnv(), git, "--git-dir=" + bare, "update-server-info");
    }

    /** acme's private CA and the git server's certificate for github.acme.test, signed by it. */
    private static void makeThePrivateCaAndCertificate() throws Exception {
        String openssl = Tools.require("openssl", "openssl");
        privateCa = gitServerHome.resolve("acme-ca.pem");
        must(
                "openssl req (the CA)",
                gitServerHome,
                Map.of(),
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "acme-ca-key.pem",
                "-out",
                privateCa.toString(),
                "-days",
                "2",
                "-subj",
                "/CN=Acme Test Private CA");
        must(
                "openssl req (the server)",
                gitServerHome,
                Map.of(),
                openssl,
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server-key.pem",
                "-out",
                "server.csr",
                "-subj",
                "/CN=" + GIT_SERVER_NAME);
        Files.writeString(
                gitServerHome.resolve("server.ext"),
                "subjectAltName=DNS:" + GIT_SERVER_NAME + "\n"
                        + "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
        must(
                "openssl x509 (the CA signs the server's certificate)",
                gitServerHome,
                Map.of(),
                openssl,
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                privateCa.toString(),
                "-CAkey",
                "acme-ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem");
    }

    /**
     * A static HTTPS file server: enough for git's dumb HTTP protocol. Each connection's TLS
     * handshake runs in its own thread, so a client that connects and says nothing (the agents'
     * TCP health checks) holds up no one.
     */
    static final String HTTPS_SERVER = """
            import functools, http.server, ssl, sys
            address, port, cert, key, root = sys.argv[1:6]
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            class Server(http.server.ThreadingHTTPServer):
                daemon_threads = True
                def finish_request(self, request, client_address):
                    request.settimeout(60)
                    try:
                        tls = context.wrap_socket(request, server_side=True)
                    except OSError:
                        return
                    with tls:
                        super().finish_request(tls, client_address)
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
            server = Server((address, int(port)), handler)
            print("serving https on %s:%s" % (address, port), flush=True)
            server.serve_forever()
            """;

    /**
     * The platform's HTTP API of the bidirectional test: serves its directory's files, and answers
     * a PUT with the SHA-256 of the body it read.
     */
    static final String PLATFORM_API = """
            import functools, hashlib, http.server, sys
            address, port, root = sys.argv[1:4]
            class Handler(http.server.SimpleHTTPRequestHandler):
                def do_PUT(self):
                    left = int(self.headers["Content-Length"])
                    digest = hashlib.sha256()
                    while left > 0:
                        chunk = self.rfile.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        digest.update(chunk)
                        left -= len(chunk)
                    body = (digest.hexdigest() + "\\n").encode()
                    self.send_response(200 if left == 0 else 400)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
            server = http.server.ThreadingHTTPServer((address, int(port)), functools.partial(Handler, directory=root))
            print("serving http on %s:%s" % (address, port), flush=True)
            server.serve_forever()
            """;

    /**
     * The customer's JDBC client of the bidirectional test: writes 8 MiB into the platform's
     * database and reads it back, and prints what the test checks.
     */
    static final String PLATFORM_DB_CLIENT = """
            import java.security.MessageDigest;
            import java.sql.Connection;
            import java.sql.DriverManager;
            import java.sql.PreparedStatement;
            import java.sql.ResultSet;
            import java.util.Arrays;
            import java.util.HexFormat;
            import java.util.Random;

            public class PlatformDbClient {
                public static void main(String[] args) throws Exception {
                    byte[] body = new byte[8 << 20];
                    new Random(16).nextBytes(body);
                    try (Connection db = DriverManager.getConnection(args[0], "postgres", "")) {
                        db.createStatement().execute("create table upload (id int primary key, body bytea)");
                        try (PreparedStatement insert = db.prepareStatement("insert into upload values (1, ?)")) {
                            insert.setBytes(1, body);
                            insert.executeUpdate();
                        }
                        try (ResultSet r = db.createStatement().executeQuery(
                                "select 6 * 7, encode(sha256(body), 'hex'), host(inet_server_addr()), body"
                                        + " from upload where id = 1")) {
                            r.next();
                            System.out.println("answer=" + r.getInt(1));
                            System.out.println("sha256 server=" + r.getString(2));
                            System.out.println("sha256 client="
                                    + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body)));
                            System.out.println("server address=" + r.getString(3));
                            System.out.println("read back equal=" + Arrays.equals(r.getBytes(4), body));
                        }
                    }
                }
            }
            """;

    // --- the README's steps ------------------------------------------------------------------

    /** Step 1: {@code ./underpass gateway}, no configuration: its state goes to underpass-data/. */
    private static void startTheGateway() throws Exception {
        gateway = track(UnderpassProcess.start("gateway", dir, gatewayHome, gatewayHost.prefix(), Map.of(), "gateway"));
        gateway.awaitLog("gateway ready", WAIT);
        // The README's defaults: the API on loopback, the agent port on every address (0.0.0.0 or [::]).
        assertThat(gateway.output())
                .containsPattern("api listening on /127\\.0\\.0\\.1:9443 ")
                .containsPattern("agent port listening on /\\S+:8443 ");
    }

    /** Step 2: the operator logs in and creates acme (the provider) and platform (the consumer). */
    private static void operatorCreatesTheTenants() throws Exception {
        underpass(
                        "operator",
                        "login",
                        "--gateway",
                        "https://localhost:9443",
                        "--ca-file",
                        "underpass-data/tls/ca.pem",
                        "--key-file",
                        "underpass-data/admin-key")
                .ok("login (operator)");
        underpass("operator", "account", "create", "acme", "--out", "acme-owner.key")
                .ok("account create acme");
        underpass("operator", "account", "create", "platform", "--out", "platform-owner.key")
                .ok("account create platform");
        underpass(
                        "acme",
                        "login",
                        "--gateway",
                        "https://localhost:9443",
                        "--ca-file",
                        "underpass-data/tls/ca.pem",
                        "--key-file",
                        "acme-owner.key")
                .ok("login (acme)");
        underpass(
                        "platform",
                        "login",
                        "--gateway",
                        "https://localhost:9443",
                        "--ca-file",
                        "underpass-data/tls/ca.pem",
                        "--key-file",
                        "platform-owner.key")
                .ok("login (platform)");
    }

    /**
     * Step 3: acme publishes its git server (HTTPS and SSH) for platform with the private DNS name
     * github.acme.test, publishes the TXT record the CLI asks for in the gateway host's DNS, has the
     * name verified, and creates the agent's token.
     */
    private static void acmePublishesGithubWithAVerifiedPrivateDnsName() throws Exception {
        JsonNode service = json(
                "acme",
                "service",
                "create",
                "github",
                "--description",
                "GitHub Enterprise",
                "--listener",
                "443=" + GIT_SERVER_NAME + ":443",
                "--listener",
                "22=" + GIT_SERVER_NAME + ":22",
                "--allow",
                "platform",
                "--private-dns-name",
                GIT_SERVER_NAME);
        String record = service.at("/privateDns/verificationRecord").asText();
        String value = service.at("/privateDns/verificationValue").asText();
        assertThat(record)
                .as("service create names the TXT record to publish: %s", service)
                .isNotBlank();
        assertThat(value).isNotBlank();
        startTheGatewayHostsResolverWith(record, value);
        Cli.Result verify = underpass("acme", "service", "verify-dns", "github");
        assertThat(verify.exitCode())
                .as("service verify-dns github: %s%s\n%s", verify.out(), verify.err(), logs())
                .isZero();
        assertThat(verify.out()).contains("verified");
        underpass("acme", "agent-token", "create", "acme-dc1", "--out", "acme-agent.token")
                .ok("agent-token create");
    }

    /** The gateway host's DNS resolver (its resolv.conf names it): dnsmasq, answering the TXT record and nothing else. */
    private static void startTheGatewayHostsResolverWith(String record, String value) throws Exception {
        dnsServer = track(ServerProcess.startLogged(
                "dnsmasq",
                gatewayHome,
                "started, version",
                gatewayHost.exec(
                        Tools.require("dnsmasq", "dnsmasq-base"),
                        "--keep-in-foreground",
                        "--log-facility=-",
                        "--log-queries",
                        "--conf-file=/dev/null",
                        "--no-resolv",
                        "--no-hosts",
                        "--pid-file",
                        "--user=root",
                        "--group=root",
                        "--listen-address=127.0.0.1",
                        "--bind-interfaces",
                        "--port=53",
                        "--txt-record=" + record + "," + value)));
    }

    /**
     * Step 4, on the customer host: the agent token and the gateway's CA certificate were carried
     * over; {@code UNDERPASS_AGENT_TOKEN=$(cat acme-agent.token) underpass agent --gateway
     * 198.18.0.1:8443 --ca-file ca.pem --target ...}.
     */
    private static void startTheAgentOnTheCustomerHost() throws Exception {
        Files.copy(gatewayHome.resolve("underpass-data/tls/ca.pem"), customerHome.resolve("ca.pem"));
        Files.copy(gatewayHome.resolve("acme-agent.token"), customerHome.resolve("acme-agent.token"));
        int before = count(gateway, "advertised");
        agent = startAcmesAgent("agent");
        try {
            gateway.awaitLog("advertised", before + 1, WAIT);
        } catch (AssertionError e) {
            throw new AssertionError(
                    "the agent on the customer host did not connect to the gateway at " + GATEWAY_ADDRESS
                            + ":8443 within " + WAIT.toSeconds() + "s\n" + logs(),
                    e);
        }
    }

    /** Acme's agent on the customer host, as the README runs it, with {@code more} flags. */
    private static UnderpassProcess startAcmesAgent(String name, String... more) throws Exception {
        String token =
                Files.readString(customerHome.resolve("acme-agent.token")).strip();
        List<String> args = new ArrayList<>(List.of(
                "agent",
                "--gateway",
                GATEWAY_ADDRESS + ":8443",
                "--ca-file",
                "ca.pem",
                "--target",
                GIT_SERVER_NAME + ":443",
                "--target",
                GIT_SERVER_NAME + ":22"));
        args.addAll(List.of(more));
        return track(UnderpassProcess.start(
                name,
                dir,
                customerHome,
                customerHost.prefix(),
                Map.of("UNDERPASS_AGENT_TOKEN", token),
                args.toArray(String[]::new)));
    }

    /** Step 5: platform requests an endpoint, acme finds and accepts the request, platform waits for it to be available. */
    private static void platformRequestsAnEndpointAndAcmeAcceptsIt() throws Exception {
        endpointId =
                json("platform", "endpoint", "create", "acme/github").get("id").asText();
        JsonNode pending = json("acme", "endpoint", "list", "--side", "provider", "--state", "pendingAcceptance");
        assertThat(pending.toString()).as("acme's pending connection requests").contains(endpointId);
        underpass("acme", "endpoint", "accept", endpointId).ok("endpoint accept");
        long deadline = System.nanoTime() + WAIT.toNanos();
        endpoint = json("platform", "endpoint", "show", endpointId);
        while (!"available".equals(endpoint.path("state").asText())) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(
                        "endpoint " + endpointId + " not available within " + WAIT.toSeconds() + "s: " + endpoint);
            }
            Thread.sleep(500);
            endpoint = json("platform", "endpoint", "show", endpointId);
        }
    }

    // --- helpers -----------------------------------------------------------------------------

    /**
     * {@code underpass args...} on the gateway host, in its home directory, as {@code who}: each
     * principal has its own login ({@code UNDERPASS_CONFIG_DIR}, as the README says).
     */
    private static Cli.Result underpass(String who, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(launcherDir().resolve("underpass").toString());
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(dir, "cli-", ".out");
        Path err = Files.createTempFile(dir, "cli-", ".err");
        ProcessBuilder pb = new ProcessBuilder(gatewayHost.exec(cmd.toArray(String[]::new)))
                .directory(gatewayHome.toFile())
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("UNDERPASS_SKIP_BUILD", "1");
        pb.environment()
                .put(
                        "UNDERPASS_CONFIG_DIR",
                        Files.createDirectories(dir.resolve("cli-" + who)).toString());
        for (String v : List.of(
                "UNDERPASS_API_KEY",
                "UNDERPASS_GATEWAY",
                "UNDERPASS_CA_FILE",
                "UNDERPASS_LOGIN_TOKEN_FILE",
                "UNDERPASS_ACCOUNT",
                "HTTPS_PROXY",
                "https_proxy")) {
            pb.environment().remove(v);
        }
        Process p = pb.start();
        if (!p.waitFor(Cli.TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError(
                    "underpass " + String.join(" ", args) + " did not finish within " + Cli.TIMEOUT_SECONDS + "s");
        }
        return new Cli.Result(
                p.exitValue(),
                Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    /** {@code underpass args... --output json} as {@code who}, which must succeed; its JSON. */
    private static JsonNode json(String who, String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--output", "json"));
        return underpass(who, all.toArray(String[]::new))
                .ok("underpass " + String.join(" ", args))
                .json();
    }

    private static Path launcherDir() {
        return Path.of(System.getProperty(UnderpassProcess.ROOT_PROPERTY))
                .toAbsolutePath()
                .normalize();
    }

    /** Where consumers connect for service port {@code servicePort}, as {@code endpoint show} lists it. */
    private static String portAddress(int servicePort) {
        for (JsonNode p : endpoint.path("ports")) {
            if (p.path("servicePort").asInt() == servicePort) {
                return p.path("address").asText();
            }
        }
        throw new AssertionError("endpoint show lists no port " + servicePort + ": " + endpoint);
    }

    private static void assertCloned(Path clone) throws Exception {
        String head = must("git rev-parse", gatewayHome, gitEnv(), git, "-C", clone.toString(), "rev-parse", "HEAD")
                .output()
                .trim();
        assertThat(head).as("the clone's commit").isEqualTo(commit);
        assertThat(Files.readString(clone.resolve("README"))).isEqualTo(README_TEXT);
    }

    private static Map<String, String> gitEnv() {
        return Map.of("GIT_CONFIG_NOSYSTEM", "1", "GIT_CONFIG_GLOBAL", "/dev/null", "GIT_TERMINAL_PROMPT", "0");
    }

    private static <T extends AutoCloseable> T track(T closeable) {
        cleanup.push(closeable);
        return closeable;
    }

    private static int count(UnderpassProcess p, String text) {
        return (int) p.output().lines().filter(l -> l.contains(text)).count();
    }

    /** Runs {@code command} in {@code workDir}, which must succeed within a minute. */
    private static Run must(String what, Path workDir, Map<String, String> env, String... command) throws Exception {
        return Run.of(workDir, env, 60, command).assertOk(what);
    }

    /** What the processes logged, for failure messages. */
    private static String logs() {
        StringBuilder b = new StringBuilder();
        if (gateway != null) {
            b.append("\n--- gateway:\n").append(gateway.output());
        }
        if (agent != null) {
            b.append("\n--- agent:\n").append(agent.output());
        }
        if (platformAgent != null) {
            b.append("\n--- platform's agent:\n").append(platformAgent.output());
        }
        for (ServerProcess s : new ServerProcess[] {dnsServer, sshd, httpsServer}) {
            if (s != null) {
                b.append("\n--- ").append(s.name()).append(":\n").append(s.output());
            }
        }
        return b.toString();
    }
}
