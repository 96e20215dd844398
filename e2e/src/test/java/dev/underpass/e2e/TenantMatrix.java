package dev.underpass.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.underpass.testkit.EchoServer;
import dev.underpass.testkit.UnderpassProcess;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import javax.naming.NameNotFoundException;
import javax.naming.directory.InitialDirContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tenant isolation on every consumer path, with real processes. Account platform has an
 * available endpoint of acme's {@code echo}; account globex, another tenant, has only a pending
 * request for acme's {@code open}. On the authenticated paths (HTTP CONNECT, absolute-form HTTP,
 * SOCKS5) each tenant is refused the other's endpoint with the same answer as a name that does
 * not exist (only the name asked for is echoed), and the target sees none of the test's bytes (the
 * agents' own health checks connect to it too, without bytes, at any time). The unauthenticated paths (endpoint ports, the
 * TLS listener, DNS) are isolated by the network the operator binds them to (docs/security.md);
 * on them, an endpoint that is not available has no port, no route and no name. (The REST API's
 * matrix is controlplane's TenantIsolationApiTest, one case per route.) Every case runs against
 * every entrance the subclass starts: one gateway, or each node of a cluster.
 */
@SuppressWarnings("BanJNDI") // JNDI's DNS provider is the test's DNS client: address strings, no objects
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class TenantMatrix {
    /** Where consumers come in: one gateway, or one node of a cluster (its address, ports and process). */
    record Entrance(String name, String host, int proxyPort, int sniPort, int dnsPort, UnderpassProcess process) {}

    /**
     * What the subclass started: the API, the operator's and the two accounts' keys, the DNS name and
     * service port of platform's available endpoint to acme's {@code echo}, and every entrance to check.
     */
    record Started(
            Api api,
            String operatorKey,
            String acmeKey,
            String platformKey,
            String available,
            List<Entrance> entrances,
            AutoCloseable stop) {}

    @TempDir
    static Path dir; // static: an instance field is not injected before @BeforeAll

    EchoServer echo;
    Started started;
    Api api;
    String platformKey;
    String globexKey;
    String available;
    String pending;
    String pendingId;

    /** Starts the gateway(s), with acme's {@code echo} (target {@code echo}) and platform's available endpoint to it. */
    abstract Started start(Path dir, EchoServer echo) throws Exception;

    @BeforeAll
    void start() throws Exception {
        echo = new EchoServer();
        started = start(dir, echo);
        api = started.api();
        platformKey = started.platformKey();
        globexKey = api.post(started.operatorKey(), "/v1/accounts", Map.of("name", "globex"))
                .at("/ownerKey/key")
                .asText();
        api.post(
                started.acmeKey(),
                "/v1/services",
                Map.of(
                        "name",
                        "open",
                        "allowedPrincipals",
                        List.of("*"),
                        "listeners",
                        List.of(Map.of("port", 1, "targets", List.of(echo.address())))));
        JsonNode request = api.post(globexKey, "/v1/endpoints", Map.of("service", "acme/open"));
        pendingId = request.get("id").asText();
        assertThat(request.get("state").asText()).isEqualTo("pendingAcceptance");
        pending = request.at("/dnsNames/0").asText() + ":1";
        available = started.available();
    }

    @AfterAll
    void stop() throws Exception {
        started.stop().close();
        echo.close();
    }

    @Test
    void httpConnectRefusesAnotherTenantsEndpointAsIfItDidNotExist() throws Exception {
        onEveryEntrance(this::httpConnectRefusesAnotherTenantsEndpointAsIfItDidNotExist);
    }

    private void httpConnectRefusesAnotherTenantsEndpointAsIfItDidNotExist(Entrance at) throws Exception {
        int before = echo.carried();
        String foreign = proxy(at, "CONNECT " + available + " HTTP/1.1\r\n", globexKey);
        String missing = proxy(
                at, "CONNECT ep-0000000000000000.echo.acme.endpoints.underpass.internal:1 HTTP/1.1\r\n", globexKey);
        assertThat(foreign).startsWith("HTTP/1.1 403").contains("is not an available endpoint of account globex");
        assertThat(withoutName(foreign, available))
                .isEqualTo(withoutName(missing, "ep-0000000000000000.echo.acme.endpoints.underpass.internal:1"));
        String reverse = proxy(at, "CONNECT " + pending + " HTTP/1.1\r\n", platformKey);
        assertThat(reverse)
                .startsWith("HTTP/1.1 403")
                .contains("account platform")
                .doesNotContain("pendingAcceptance")
                .doesNotContain("globex");
        String missingForPlatform = proxy(
                at, "CONNECT ep-0000000000000000.open.acme.endpoints.underpass.internal:1 HTTP/1.1\r\n", platformKey);
        assertThat(withoutName(reverse, pending))
                .as("the same answer as for a name that never existed")
                .isEqualTo(withoutName(
                        missingForPlatform, "ep-0000000000000000.open.acme.endpoints.underpass.internal:1"));
        assertThat(echo.carried())
                .as("connections that brought bytes to the target")
                .isEqualTo(before);
        // The owner of the endpoint is carried, so the refusals are about who asks, not about the name.
        assertThat(proxy(at, "CONNECT " + available + " HTTP/1.1\r\n", platformKey))
                .startsWith("HTTP/1.1 200");
    }

    @Test
    void absoluteFormHttpRefusesAnotherTenantsEndpoint() throws Exception {
        onEveryEntrance(this::absoluteFormHttpRefusesAnotherTenantsEndpoint);
    }

    private void absoluteFormHttpRefusesAnotherTenantsEndpoint(Entrance at) throws Exception {
        int before = echo.carried();
        String foreign = proxy(at, "GET http://" + available + "/ HTTP/1.1\r\nHost: " + available + "\r\n", globexKey);
        String missing = proxy(
                at,
                "GET http://ep-0000000000000000.echo.acme.endpoints.underpass.internal:1/ HTTP/1.1\r\n" + "Host: x\r\n",
                globexKey);
        assertThat(foreign)
                .startsWith("HTTP/1.1 403")
                .contains("is not an available endpoint of account globex")
                .doesNotContain("platform");
        assertThat(withoutName(foreign, available))
                .isEqualTo(withoutName(missing, "ep-0000000000000000.echo.acme.endpoints.underpass.internal:1"));
        assertThat(echo.carried()).isEqualTo(before);
    }

    @Test
    void socks5RefusesAnotherTenantsEndpointWithTheReplyOfAnUnknownName() throws Exception {
        onEveryEntrance(this::socks5RefusesAnotherTenantsEndpointWithTheReplyOfAnUnknownName);
    }

    private void socks5RefusesAnotherTenantsEndpointWithTheReplyOfAnUnknownName(Entrance at) throws Exception {
        int before = echo.carried();
        assertThat(socks(at, available, globexKey))
                .as("connection not allowed by ruleset")
                .isEqualTo(2);
        assertThat(socks(at, "ep-0000000000000000.echo.acme.endpoints.underpass.internal:1", globexKey))
                .isEqualTo(2);
        assertThat(socks(at, pending, platformKey)).isEqualTo(2);
        assertThat(echo.carried()).isEqualTo(before);
        assertThat(socks(at, available, platformKey)).as("the owner").isEqualTo(0);
    }

    @Test
    void anEndpointThatIsNotAvailableHasNoPortNoTlsRouteAndNoDnsName() throws Exception {
        onEveryEntrance(this::anEndpointThatIsNotAvailableHasNoPortNoTlsRouteAndNoDnsName);
    }

    private void anEndpointThatIsNotAvailableHasNoPortNoTlsRouteAndNoDnsName(Entrance at) throws Exception {
        JsonNode view = api.get(globexKey, "/v1/endpoints/" + pendingId);
        assertThat(view.get("state").asText()).isEqualTo("pendingAcceptance");
        assertThat(view.at("/ports/0/gatewayPort").isMissingNode()
                        || view.at("/ports/0/gatewayPort").isNull())
                .as("a gateway port for a pending endpoint: %s", view)
                .isTrue();

        Hashtable<String, String> env = new Hashtable<>();
        env.put("java.naming.factory.initial", "com.sun.jndi.dns.DnsContextFactory");
        env.put("java.naming.provider.url", "dns://" + at.host() + ":" + at.dnsPort());
        InitialDirContext dns = new InitialDirContext(env);
        try {
            String pendingHost = pending.substring(0, pending.lastIndexOf(':'));
            assertThatThrownBy(() -> dns.getAttributes(pendingHost, new String[] {"A"}))
                    .as("a pending endpoint's name")
                    .isInstanceOf(NameNotFoundException.class);
            assertThatThrownBy(() -> dns.getAttributes(
                            "ep-0000000000000000.echo.acme.endpoints.underpass.internal", new String[] {"A"}))
                    .as("a name that never existed")
                    .isInstanceOf(NameNotFoundException.class);
        } finally {
            dns.close();
        }
        // The TLS listener has no route for it: the connection is closed without a byte of answer.
        try (Socket s = new Socket(at.host(), at.sniPort())) {
            s.setSoTimeout((int) Tunnel.WAIT.toMillis());
            s.getOutputStream().write(clientHello(pending.substring(0, pending.lastIndexOf(':'))));
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
        at.process().awaitLog("is no available endpoint", Tunnel.WAIT);
    }

    /** A check of one entrance. */
    private interface Check {
        void at(Entrance entrance) throws Exception;
    }

    private void onEveryEntrance(Check check) throws Exception {
        for (Entrance at : started.entrances()) {
            check.at(at);
        }
    }

    private static String withoutName(String answer, String name) {
        return answer.replace(name, "NAME");
    }

    /**
     * Sends {@code head} with platform's or globex's key, reads the answer's head (or all of it when
     * it closes). Through a tunnel, sends {@link #PROBE} and reads its echo, so that a tunnel counts
     * at the target ({@link EchoServer#carried()}) before this returns.
     */
    private String proxy(Entrance at, String head, String key) throws IOException {
        try (Socket s = new Socket(at.host(), at.proxyPort())) {
            s.setSoTimeout((int) Tunnel.WAIT.toMillis());
            String auth = Base64.getEncoder().encodeToString(("ci:" + key).getBytes(StandardCharsets.UTF_8));
            s.getOutputStream()
                    .write((head + "Proxy-Authorization: Basic " + auth + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            int b;
            while ((b = in.read()) != -1) {
                got.write(b);
                if (got.toString(StandardCharsets.ISO_8859_1).startsWith("HTTP/1.1 200")
                        && got.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                    s.getOutputStream().write(PROBE);
                    assertThat(in.readNBytes(PROBE.length))
                            .as("echoed through the tunnel")
                            .isEqualTo(PROBE);
                    break; // a tunnel: its head is all there is to read
                }
            }
            return got.toString(StandardCharsets.UTF_8);
        }
    }

    /** What the test sends through a tunnel that was opened. */
    private static final byte[] PROBE = "underpass-matrix-probe".getBytes(StandardCharsets.US_ASCII);

    /** The SOCKS5 reply code for a CONNECT to {@code destination} (host:port). */
    private int socks(Entrance at, String destination, String key) throws IOException {
        int colon = destination.lastIndexOf(':');
        byte[] host = destination.substring(0, colon).getBytes(StandardCharsets.US_ASCII);
        int port = Integer.parseInt(destination.substring(colon + 1));
        byte[] password = key.getBytes(StandardCharsets.US_ASCII);
        try (Socket s = new Socket(at.host(), at.proxyPort())) {
            s.setSoTimeout((int) Tunnel.WAIT.toMillis());
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(new byte[] {5, 1, 2});
            assertThat(in.readNBytes(2)).containsExactly(5, 2);
            ByteArrayOutputStream auth = new ByteArrayOutputStream();
            auth.write(new byte[] {1, 2, 'c', 'i', (byte) password.length});
            auth.write(password);
            out.write(auth.toByteArray());
            assertThat(in.readNBytes(2)).containsExactly(1, 0);
            ByteArrayOutputStream command = new ByteArrayOutputStream();
            command.write(new byte[] {5, 1, 0, 3, (byte) host.length});
            command.write(host);
            command.write(new byte[] {(byte) (port >> 8), (byte) port});
            out.write(command.toByteArray());
            byte[] reply = in.readNBytes(2);
            if (reply.length == 2
                    && reply[1] == 0) { // through, as for the owner: the rest of the reply, then the probe
                in.readNBytes(8); // reserved, address type, IPv4 address and port
                out.write(PROBE);
                assertThat(in.readNBytes(PROBE.length))
                        .as("echoed through SOCKS5")
                        .isEqualTo(PROBE);
            }
            return reply.length == 2 ? reply[1] : -1;
        }
    }

    /** A minimal TLS 1.2/1.3 ClientHello record naming {@code host} in its SNI extension. */
    private static byte[] clientHello(String host) {
        byte[] name = host.getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream sni = new ByteArrayOutputStream();
        int listLength = name.length + 3;
        sni.writeBytes(new byte[] {
            0,
            0,
            (byte) ((listLength + 2) >> 8),
            (byte) (listLength + 2),
            (byte) (listLength >> 8),
            (byte) listLength,
            0,
            (byte) (name.length >> 8),
            (byte) name.length
        });
        sni.writeBytes(name);
        byte[] ext = sni.toByteArray();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {3, 3});
        body.writeBytes(new byte[32]); // random
        body.write(0); // no session id
        body.writeBytes(new byte[] {0, 2, 0x13, 0x01}); // TLS_AES_128_GCM_SHA256
        body.writeBytes(new byte[] {1, 0}); // null compression
        body.writeBytes(new byte[] {(byte) (ext.length >> 8), (byte) ext.length});
        body.writeBytes(ext);
        byte[] hello = body.toByteArray();
        ByteArrayOutputStream record = new ByteArrayOutputStream();
        int hs = hello.length + 4;
        record.writeBytes(
                new byte[] {22, 3, 1, (byte) (hs >> 8), (byte) hs, 1, 0, (byte) (hello.length >> 8), (byte) hello.length
                });
        record.writeBytes(hello);
        return record.toByteArray();
    }
}
