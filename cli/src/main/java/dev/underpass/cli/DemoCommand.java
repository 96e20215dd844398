package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.underpass.agent.Agent;
import dev.underpass.agent.config.AgentConfig;
import dev.underpass.gateway.Gateway;
import dev.underpass.gateway.GatewayConfig;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * One command that shows the product working: a gateway with its embedded defaults, a private
 * HTTP service that only the agent can see, an agent that dials out, and the PrivateLink flow
 * through the gateway's REST API: account {@code acme} publishes the service, account
 * {@code platform} requests an endpoint, acme accepts it, and the endpoint reaches the service.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description =
                "Run a gateway, an agent and a private HTTP service, and show the service reached through an endpoint.")
final class DemoCommand implements Callable<Integer> {
    static final Duration WAIT = Duration.ofSeconds(30);

    @Option(
            names = "--check",
            description = "Make one request through the endpoint, print it, and exit (0 when it worked).")
    boolean check;

    @Option(
            names = "--data-dir",
            paramLabel = "DIR",
            description = "State directory (default: a new temporary directory).")
    Path dataDir;

    @Override
    public Integer call() throws Exception {
        Path dir = dataDir != null ? dataDir : Files.createTempDirectory("underpass-demo-");
        HttpServer privateService = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        privateService.createContext("/", exchange -> {
            byte[] body =
                    "hello from the private service, reached through Underpass\n".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("content-type", "text/plain");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        privateService.start();
        String target = "127.0.0.1:" + privateService.getAddress().getPort();

        Gateway gateway = Gateway.start(
                GatewayConfig.defaults()
                        .withListen("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"),
                dir);
        List<AutoCloseable> running = new ArrayList<>();
        running.add(() -> privateService.stop(0));
        running.add(gateway);
        AutoCloseable all = () -> {
            for (AutoCloseable c : running.reversed()) {
                c.close();
            }
        };
        JsonNode endpoint;
        try {
            // Everything below goes through the gateway's REST API, as the CLI would do it.
            String operatorKey =
                    Files.readString(dir.resolve(Gateway.ADMIN_KEY_FILE)).trim();
            String api = "https://127.0.0.1:" + gateway.apiAddress().getPort();
            String ca = gateway.caFile().toString();
            ApiClient operator = ApiClient.connect(new CliConfig(api, ca, operatorKey));
            running.add(operator);
            ApiClient acme = ApiClient.connect(new CliConfig(api, ca, ownerKey(operator, "acme")));
            running.add(acme);
            ApiClient platform = ApiClient.connect(new CliConfig(api, ca, ownerKey(operator, "platform")));
            running.add(platform);
            String token = acme.post("/v1/agent-tokens", json(Map.of("name", "demo-agent")))
                    .get("token")
                    .asText();
            acme.post(
                    "/v1/services",
                    json(Map.of(
                            "name",
                            "hello",
                            "description",
                            "a private HTTP service",
                            "listeners",
                            List.of(Map.of("port", 80, "targets", List.of(target))),
                            "allowedPrincipals",
                            List.of("platform"))));
            String id = platform.post("/v1/endpoints", json(Map.of("service", "acme/hello")))
                    .get("id")
                    .asText();
            acme.post("/v1/endpoints/" + id + "/accept", json(Map.of("reason", "demo")));
            endpoint = awaitAvailable(platform, id);

            Agent agent = new Agent(new AgentConfig(
                    "localhost:" + gateway.agentAddress().getPort(),
                    "demo-agent",
                    token,
                    null,
                    ca,
                    null,
                    null,
                    null,
                    null,
                    null,
                    List.of(target)));
            running.add(agent);
            agent.start();
            if (!agent.awaitSession(WAIT)) {
                throw new IllegalStateException(
                        "the demo agent did not establish a session within " + WAIT.toSeconds() + "s");
            }
        } catch (Exception e) {
            all.close();
            throw e;
        }
        JsonNode port = endpoint.at("/ports/0");
        String url = "http://" + port.get("address").asText() + "/";
        System.out.println();
        System.out.println("Underpass demo");
        System.out.println("  private service (reachable only by the agent): http://" + target + "/");
        System.out.println(
                "  agent session:  agent of account acme -> gateway " + gateway.agentAddress() + " (TLS 1.3, HTTP/2)");
        System.out.println("  service:        acme/hello, published by acme for account platform");
        System.out.println("  endpoint:       " + endpoint.get("id").asText() + " of platform, "
                + endpoint.get("state").asText() + " (accepted by acme), " + url);
        System.out.println(
                "  API:            https://127.0.0.1:" + gateway.apiAddress().getPort() + "  (operator key in "
                        + dir.resolve(Gateway.ADMIN_KEY_FILE) + ", CA " + gateway.caFile() + ")");
        System.out.println();
        if (check) {
            String response = get(port.get("gatewayPort").asInt());
            System.out.println(response);
            all.close();
            return response.startsWith("HTTP/1.1 200") ? 0 : 1;
        }
        System.out.println("Try:  curl " + url + "      (Ctrl-C stops the demo)");
        Shutdown.awaitSignal(() -> {}, all);
        return 0;
    }

    /** A new account; the key of its owner. */
    private static String ownerKey(ApiClient operator, String account) {
        return operator.post("/v1/accounts", json(Map.of("name", account)))
                .at("/ownerKey/key")
                .asText();
    }

    private static JsonNode json(Map<String, Object> body) {
        return ApiClient.JSON.valueToTree(body);
    }

    private static JsonNode awaitAvailable(ApiClient consumer, String id) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            JsonNode v = consumer.get("/v1/endpoints/" + id);
            if ("available".equals(v.get("state").asText())) {
                return v;
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException(
                "endpoint " + id + " did not become available within " + WAIT.toSeconds() + "s");
    }

    /** A plain HTTP/1.1 GET over a socket, as curl would send it. */
    private static String get(int port) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream()
                    .write("GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
