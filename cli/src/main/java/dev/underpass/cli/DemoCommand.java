package dev.underpass.cli;

import com.sun.net.httpserver.HttpServer;
import dev.underpass.agent.Agent;
import dev.underpass.agent.AgentConfig;
import dev.underpass.controlplane.Accounts;
import dev.underpass.controlplane.AgentTokens;
import dev.underpass.controlplane.ControlPlane;
import dev.underpass.controlplane.EndpointState;
import dev.underpass.controlplane.Endpoints;
import dev.underpass.controlplane.Principal;
import dev.underpass.controlplane.Services;
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
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * One command that shows the product working: a gateway with its embedded defaults, a private
 * HTTP service that only the agent can see, an agent that dials out, and the PrivateLink flow
 * on the gateway's control plane: account {@code acme} publishes the service, account
 * {@code platform} requests an endpoint, acme accepts it, and the endpoint reaches the service.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run a gateway, an agent and a private HTTP service, and show the service reached through an endpoint.")
final class DemoCommand implements Callable<Integer> {
    static final Duration WAIT = Duration.ofSeconds(30);

    @Option(names = "--check", description = "Make one request through the endpoint, print it, and exit (0 when it worked).")
    boolean check;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "State directory (default: a new temporary directory).")
    Path dataDir;

    @Override
    public Integer call() throws Exception {
        Path dir = dataDir != null ? dataDir : Files.createTempDirectory("underpass-demo-");
        HttpServer privateService = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        privateService.createContext("/", exchange -> {
            byte[] body = "hello from the private service, reached through Underpass\n".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("content-type", "text/plain");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        privateService.start();
        String target = "127.0.0.1:" + privateService.getAddress().getPort();

        Gateway gateway = Gateway.start(GatewayConfig.defaults().withListen("127.0.0.1:0", "127.0.0.1:0"), dir);
        List<AutoCloseable> running = new ArrayList<>();
        running.add(() -> privateService.stop(0));
        running.add(gateway);
        AutoCloseable all = () -> {
            for (AutoCloseable c : running.reversed()) {
                c.close();
            }
        };
        Endpoints.View endpoint;
        try {
            ControlPlane cp = gateway.controlPlane();
            Principal operator = cp.apiKeys().authenticate(Files.readString(dir.resolve(Gateway.ADMIN_KEY_FILE)).trim());
            Principal acme = owner(cp, operator, "acme");
            Principal platform = owner(cp, operator, "platform");
            String token = cp.agentTokens().create(acme, new AgentTokens.CreateRequest("demo-agent", null)).token();
            cp.services().create(acme, new Services.CreateRequest("hello", "a private HTTP service",
                    List.of(new Services.Listener("tcp", 80, List.of(target))), List.of("platform"), true, null));
            String id = cp.endpoints().create(platform, new Endpoints.CreateRequest("acme/hello")).id();
            cp.endpoints().accept(acme, id, new Endpoints.DecisionRequest("demo"));
            endpoint = awaitAvailable(cp, platform, id);

            Agent agent = new Agent(new AgentConfig("localhost:" + gateway.agentAddress().getPort(), "demo-agent", token, null,
                    gateway.caFile().toString(), null, null, null, null, null, List.of(target)));
            running.add(agent);
            agent.start();
            if (!agent.awaitSession(WAIT)) {
                throw new IllegalStateException("the demo agent did not establish a session within " + WAIT.toSeconds() + "s");
            }
        } catch (Exception e) {
            all.close();
            throw e;
        }
        String url = "http://" + endpoint.ports().getFirst().address() + "/";
        System.out.println();
        System.out.println("Underpass demo");
        System.out.println("  private service (reachable only by the agent): http://" + target + "/");
        System.out.println("  agent session:  agent of account acme -> gateway " + gateway.agentAddress() + " (TLS 1.3, HTTP/2)");
        System.out.println("  service:        acme/hello, published by acme for account platform");
        System.out.println("  endpoint:       " + endpoint.id() + " of platform, " + endpoint.state() + " (accepted by acme), " + url);
        System.out.println("  API:            https://127.0.0.1:" + gateway.apiAddress().getPort()
                + "  (operator key in " + dir.resolve(Gateway.ADMIN_KEY_FILE) + ", CA " + gateway.caFile() + ")");
        System.out.println();
        if (check) {
            String response = get(endpoint.ports().getFirst().gatewayPort());
            System.out.println(response);
            all.close();
            return response.startsWith("HTTP/1.1 200") ? 0 : 1;
        }
        System.out.println("Try:  curl " + url + "      (Ctrl-C stops the demo)");
        Shutdown.awaitSignal(all);
        return 0;
    }

    /** A new account, and its owner acting with the account's first key. */
    private static Principal owner(ControlPlane cp, Principal operator, String account) {
        return cp.apiKeys().authenticate(cp.accounts().create(operator, new Accounts.CreateRequest(account, null)).ownerKey().key());
    }

    private static Endpoints.View awaitAvailable(ControlPlane cp, Principal consumer, String id) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            Endpoints.View v = cp.endpoints().get(consumer, id);
            if (v.state() == EndpointState.AVAILABLE) {
                return v;
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("endpoint " + id + " did not become available within " + WAIT.toSeconds() + "s");
    }

    /** A plain HTTP/1.1 GET over a socket, as curl would send it. */
    private static String get(int port) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
