package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real consumer clients of real services behind the agent, as a platform team uses them: the
 * PostgreSQL JDBC driver against a real PostgreSQL through an endpoint listener, and Maven
 * pulling an artifact from a private Maven repository through the gateway's forward proxy, by
 * the endpoint's DNS name, with the consumer's API key as the proxy password. Every check
 * compares content (row hashes, MD5s computed by the server, the jar's SHA-1), not just exit
 * codes.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ConsumerClientsTest {
    static final long MAVEN_TIMEOUT_SECONDS = 180;
    /**
     * Named in full so that Maven needs no plugin-prefix or version metadata from Central: with
     * the plugin in the local repository the run needs no network but the tunnel. 3.8.1 runs on
     * Maven 3.6.3 and newer.
     */
    static final String DEPENDENCY_GET = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get";

    static final String GROUP_PATH = "com/example/underpass-demo/1.0/";
    static final String JAR = GROUP_PATH + "underpass-demo-1.0.jar";
    static final String POM = GROUP_PATH + "underpass-demo-1.0.pom";
    static final int ROWS = 1_000;
    static final int BIG_ROWS = 5;
    /** 31,250 times a 32-character MD5: one million characters per row, five MB in all. */
    static final int BIG_ROW_REPEAT = 31_250;

    @TempDir
    static Path dir;

    static EmbeddedPostgres pg;
    static HttpServer repo;
    static ExecutorService repoPool;
    static final Map<String, byte[]> repoFiles = new LinkedHashMap<>();
    static final Map<String, AtomicInteger> repoRequests = new ConcurrentHashMap<>();
    static final List<String> repoLog = new CopyOnWriteArrayList<>();
    static Tunnel tunnel;

    @BeforeAll
    static void start() throws Exception {
        pg = EmbeddedPostgres.builder().start();
        startRepo();
        Map<String, String> services = new LinkedHashMap<>();
        services.put("pg", "127.0.0.1:" + pg.getPort());
        services.put("repo", "127.0.0.1:" + repo.getAddress().getPort());
        tunnel = Tunnel.start(dir, services);
    }

    @AfterAll
    static void stop() throws Exception {
        if (tunnel != null) {
            tunnel.close();
        }
        if (repo != null) {
            repo.stop(0);
            repoPool.shutdownNow();
            repoPool.awaitTermination(10, TimeUnit.SECONDS);
        }
        if (pg != null) {
            pg.close();
        }
    }

    // --- JDBC through an endpoint listener -------------------------------------------------------

    @Test
    void jdbcWritesABatchAndReadsItBackAndGetsFiveMegabytesThroughTheEndpointListener() throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + tunnel.endpointPort("pg")
                + "/postgres?sslmode=disable&connectTimeout=20&socketTimeout=120";
        Random random = new Random(41);
        MessageDigest sent = MessageDigest.getInstance("SHA-256");
        StringBuilder serverView = new StringBuilder();
        long idSum = 0;
        long payloadBytes = 0;
        try (Connection c = DriverManager.getConnection(url, "postgres", "")) {
            try (Statement s = c.createStatement();
                    ResultSet r = s.executeQuery("select inet_server_port()")) {
                r.next();
                assertThat(r.getInt(1))
                        .as("the driver talks to the PostgreSQL behind the agent")
                        .isEqualTo(pg.getPort());
            }
            try (Statement s = c.createStatement()) {
                s.execute(
                        "create table consumer_rows (id int primary key, name text not null, payload bytea not null)");
            }
            c.setAutoCommit(false);
            try (PreparedStatement insert =
                    c.prepareStatement("insert into consumer_rows (id, name, payload) values (?, ?, ?)")) {
                for (int id = 1; id <= ROWS; id++) {
                    byte[] payload = new byte[100 + random.nextInt(900)];
                    random.nextBytes(payload);
                    String name = "row-" + id + "-" + Integer.toHexString(random.nextInt());
                    insert.setInt(1, id);
                    insert.setString(2, name);
                    insert.setBytes(3, payload);
                    insert.addBatch();
                    digestRow(sent, id, name, payload);
                    serverView
                            .append(serverView.isEmpty() ? "" : ",")
                            .append(name)
                            .append(':')
                            .append(HexFormat.of().formatHex(payload));
                    idSum += id;
                    payloadBytes += payload.length;
                }
                int[] counts = insert.executeBatch();
                assertThat(counts).hasSize(ROWS);
            }
            c.commit();
            c.setAutoCommit(true);

            // What the server stored, computed by the server: the batch arrived intact.
            try (Statement s = c.createStatement();
                    ResultSet r = s.executeQuery(
                            "select count(*), sum(id), "
                                    + "md5(string_agg(name || ':' || encode(payload, 'hex'), ',' order by id)) from consumer_rows")) {
                r.next();
                assertThat(r.getLong(1)).isEqualTo(ROWS);
                assertThat(r.getLong(2)).isEqualTo(idSum);
                assertThat(r.getString(3))
                        .as("MD5 of the rows as the server stored them")
                        .isEqualTo(md5(serverView.toString()));
            }
            // What the driver reads back: the same rows, byte for byte.
            MessageDigest read = MessageDigest.getInstance("SHA-256");
            int rows = 0;
            try (Statement s = c.createStatement();
                    ResultSet r = s.executeQuery("select id, name, payload from consumer_rows order by id")) {
                while (r.next()) {
                    digestRow(read, r.getInt(1), r.getString(2), r.getBytes(3));
                    rows++;
                }
            }
            assertThat(rows).isEqualTo(ROWS);
            assertThat(HexFormat.of().formatHex(read.digest()))
                    .as("SHA-256 of the rows read back")
                    .isEqualTo(HexFormat.of().formatHex(sent.digest()));

            // A result of five MB: every row complete, its MD5 computed by the server.
            long bigChars = 0;
            try (Statement s = c.createStatement();
                    ResultSet r =
                            s.executeQuery("select i, md5(v), v from (select i, repeat(md5(i::text), " + BIG_ROW_REPEAT
                                    + ") as v from generate_series(1, " + BIG_ROWS + ") as i) as big order by i")) {
                int i = 0;
                while (r.next()) {
                    i++;
                    String v = r.getString(3);
                    assertThat(r.getInt(1)).isEqualTo(i);
                    assertThat(v).hasSize(32 * BIG_ROW_REPEAT).startsWith(md5(String.valueOf(i)));
                    assertThat(md5(v)).as("row %d as the driver received it", i).isEqualTo(r.getString(2));
                    bigChars += v.length();
                }
                assertThat(i).isEqualTo(BIG_ROWS);
            }
            assertThat(bigChars).isEqualTo((long) BIG_ROWS * 32 * BIG_ROW_REPEAT);
            try (Statement s = c.createStatement()) {
                s.execute("drop table consumer_rows");
            }
        }
        // The gateway carried the connection, and counted the bytes in both directions.
        Matcher closed = tunnel.gateway()
                .awaitLog(
                        "connection \\d+ endpoint=" + Pattern.quote(tunnel.endpointId("pg"))
                                + " port=1 from=\\S+ target=127\\.0\\.0\\.1:" + pg.getPort()
                                + " session=\\S+ closed: .* sent=(\\d+) received=(\\d+)",
                        Tunnel.WAIT);
        assertThat(Long.parseLong(closed.group(1)))
                .as("bytes to the driver")
                .isGreaterThan((long) BIG_ROWS * 32 * BIG_ROW_REPEAT);
        assertThat(Long.parseLong(closed.group(2))).as("bytes from the driver").isGreaterThan(payloadBytes);
    }

    // --- Maven through the forward proxy ---------------------------------------------------------

    @Test
    void mavenPullsAnArtifactThroughTheForwardProxyFromARepositoryBehindTheAgent() throws Exception {
        String mvn = Tools.require("mvn", "maven");
        String name = tunnel.endpointDnsName("repo");
        // Maven's own local repository, so its plugins resolve without a network; the demo
        // artifact must not be there before (nor its .lastUpdated markers), and is removed after.
        Path localRepo = Path.of(System.getProperty("user.home"), ".m2", "repository");
        Path demoDir = localRepo.resolve("com/example/underpass-demo");
        deleteTree(demoDir);
        try {
            Path work = Files.createDirectories(dir.resolve("maven"));
            Path settings = work.resolve("settings.xml");
            Files.writeString(settings, settings(name));
            Run r = Run.of(
                    work,
                    Map.of(),
                    MAVEN_TIMEOUT_SECONDS,
                    mvn,
                    "-B",
                    "-s",
                    settings.toString(),
                    "-Dmaven.repo.local=" + localRepo,
                    DEPENDENCY_GET,
                    "-Dartifact=com.example:underpass-demo:1.0",
                    "-Dtransitive=false",
                    "-DremoteRepositories=repo::::http://" + name + ":1/");
            if (r.exitCode() != 0) {
                throw new AssertionError("mvn dependency:get exited with " + r.exitCode() + "; output:\n" + r.output()
                        + "\n--- repository requests: " + repoLog + "\n" + logs());
            }
            Path jar = localRepo.resolve(JAR);
            assertThat(jar).as(r.output()).exists();
            assertThat(sha1(Files.readAllBytes(jar)))
                    .as("SHA-1 of the jar Maven stored")
                    .isEqualTo(sha1(repoFiles.get(JAR)));
            assertThat(Files.readAllBytes(localRepo.resolve(POM))).isEqualTo(repoFiles.get(POM));

            // The private repository saw Maven's requests; none carried the consumer's key.
            assertThat(requests(POM)).as(repoLog.toString()).isPositive();
            assertThat(requests(JAR)).as(repoLog.toString()).isPositive();
            assertThat(requests(JAR + ".sha1"))
                    .as("Maven checks the checksum: " + repoLog)
                    .isPositive();
            assertThat(repoLog)
                    .as("the proxy strips Proxy-Authorization")
                    .noneMatch(l -> l.contains("proxy-authorization"));
            assertThat(repoLog).allMatch(l -> l.contains("host=" + name + ":1"));

            // Each request was one absolute-form proxy request, carried to the endpoint.
            // The log is written asynchronously: wait for the last line before counting.
            String carriedLine =
                    "GET " + Pattern.quote(name) + ":1 from \\S+ account=platform key=key-[0-9a-f]+ -> endpoint "
                            + Pattern.quote(tunnel.endpointId("repo")) + " port 1";
            tunnel.gateway().awaitLog(carriedLine, repoLog.size(), Tunnel.WAIT);
            String gatewayLog = tunnel.gateway().output();
            long carried = gatewayLog
                    .lines()
                    .filter(Pattern.compile("GET " + Pattern.quote(name) + ":1 from \\S+ account=platform "
                                    + "key=key-[0-9a-f]+ -> endpoint " + Pattern.quote(tunnel.endpointId("repo"))
                                    + " port 1")
                            .asPredicate())
                    .count();
            int served = repoLog.size();
            assertThat(carried)
                    .as("proxied GETs, one per request the repository saw: " + repoLog)
                    .isEqualTo(served);
            assertThat(gatewayLog).as("the key is never logged").doesNotContain(tunnel.platformKey());
            long challenged = gatewayLog
                    .lines()
                    .filter(l -> l.contains(" for " + name + ":1 refused: 407"))
                    .count();
            System.out.printf(
                    "maven: %d requests to the repository through the proxy, %d answered 407 first (%s): %s%n",
                    served,
                    challenged,
                    challenged == 0 ? "credentials sent preemptively" : "credentials sent after the challenge",
                    repoLog);
            r.output()
                    .lines()
                    .filter(l -> l.contains("Downloaded from") || l.contains("Downloading from"))
                    .forEach(System.out::println);
        } finally {
            deleteTree(demoDir);
            deleteIfEmpty(localRepo.resolve("com/example"));
        }
    }

    /** Maven settings: the private repository for everything, through the gateway's proxy. */
    private static String settings(String endpointName) {
        return """
                <settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
                  <proxies>
                    <proxy>
                      <id>underpass</id>
                      <active>true</active>
                      <protocol>http</protocol>
                      <host>127.0.0.1</host>
                      <port>%d</port>
                      <username>runner</username>
                      <password>%s</password>
                      <nonProxyHosts>localhost|127.0.0.1</nonProxyHosts>
                    </proxy>
                  </proxies>
                  <mirrors>
                    <!-- Every repository, Central included, is the private one: the test talks to
                         nothing beyond loopback (the plugin itself comes from the local repository,
                         where scripts/install-test-tools.sh put it). Listed in the user's settings,
                         it is chosen before Maven's own maven-default-http-blocker mirror. Its id is
                         "central" so that Maven trusts what it downloaded from Central before. -->
                    <mirror>
                      <id>central</id>
                      <mirrorOf>*</mirrorOf>
                      <url>http://%s:1/</url>
                    </mirror>
                  </mirrors>
                </settings>
                """.formatted(tunnel.proxyPort(), xml(tunnel.platformKey()), endpointName);
    }

    // --- the private Maven repository ------------------------------------------------------------

    private static void startRepo() throws IOException, NoSuchAlgorithmException {
        byte[] jar = demoJar();
        byte[] pom = """
                <?xml version="1.0" encoding="UTF-8"?>
                <project xmlns="http://maven.apache.org/POM/4.0.0">
                  <modelVersion>4.0.0</modelVersion>
                  <groupId>com.example</groupId>
                  <artifactId>underpass-demo</artifactId>
                  <version>1.0</version>
                  <packaging>jar</packaging>
                </project>
                """.getBytes(StandardCharsets.UTF_8);
        repoFiles.put(POM, pom);
        repoFiles.put(POM + ".sha1", sha1(pom).getBytes(StandardCharsets.US_ASCII));
        repoFiles.put(JAR, jar);
        repoFiles.put(JAR + ".sha1", sha1(jar).getBytes(StandardCharsets.US_ASCII));
        repo = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        repoPool = Executors.newFixedThreadPool(4);
        repo.setExecutor(repoPool);
        repo.createContext("/", ConsumerClientsTest::serveRepo);
        repo.start();
    }

    private static void serveRepo(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath().replaceFirst("^/+", "");
            byte[] body = repoFiles.get(path);
            repoLog.add(ex.getRequestMethod() + " /" + path + " host="
                    + ex.getRequestHeaders().getFirst("Host")
                    + (ex.getRequestHeaders().containsKey("Proxy-Authorization") ? " proxy-authorization" : "")
                    + " -> " + (body == null ? 404 : 200));
            repoRequests.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
            if (body == null) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            boolean head = "HEAD".equals(ex.getRequestMethod());
            ex.sendResponseHeaders(200, head ? -1 : body.length);
            if (!head) {
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    /** A small real jar: a manifest and one resource. */
    private static byte[] demoJar() throws IOException {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().putValue("Implementation-Title", "underpass-demo");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (JarOutputStream jar = new JarOutputStream(bytes, manifest)) {
            JarEntry entry = new JarEntry("com/example/demo/hello.txt");
            jar.putNextEntry(entry);
            jar.write("hello from a private Maven repository behind the agent\n".getBytes(StandardCharsets.UTF_8));
            jar.closeEntry();
        }
        return bytes.toByteArray();
    }

    private static int requests(String path) {
        AtomicInteger n = repoRequests.get(path);
        return n == null ? 0 : n.get();
    }

    // --- helpers ---------------------------------------------------------------------------------

    private static void digestRow(MessageDigest d, int id, String name, byte[] payload) {
        d.update((id + "\0" + name + "\0").getBytes(StandardCharsets.UTF_8));
        d.update(payload);
    }

    private static String md5(String s) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    private static String sha1(byte[] b) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(b));
    }

    private static String xml(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    private static void deleteIfEmpty(Path d) throws IOException {
        if (Files.isDirectory(d)) {
            try (Stream<Path> entries = Files.list(d)) {
                if (entries.findAny().isEmpty()) {
                    Files.delete(d);
                }
            }
        }
    }

    /** Everything the gateway and agent logged, for failure messages. */
    private static String logs() {
        return tunnel == null
                ? ""
                : "--- gateway:\n" + tunnel.gateway().output() + "--- agent:\n"
                        + tunnel.agent().output();
    }
}
