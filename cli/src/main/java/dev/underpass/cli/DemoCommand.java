package dev.underpass.cli;

import com.sun.net.httpserver.HttpServer;
import dev.underpass.agent.Agent;
import dev.underpass.agent.AgentConfig;
import dev.underpass.gateway.AgentTokens;
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
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * One command that shows the product working: a gateway with its embedded defaults, a private
 * HTTP service that only the agent can see, an agent that dials out, and an endpoint on the
 * gateway that reaches the private service through the tunnel.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run a gateway, an agent and a private HTTP service, and show the service reached through an endpoint.")
final class DemoCommand implements Callable<Integer> {
    static final Duration SESSION_WAIT = Duration.ofSeconds(30);

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

        String token = AgentTokens.generate();
        GatewayConfig config = new GatewayConfig("127.0.0.1:0", null, null, null, null, null, null,
                List.of(new GatewayConfig.Account("demo", List.of(new GatewayConfig.AgentToken("demo-agent", AgentTokens.sha256Hex(token))))),
                List.of(new GatewayConfig.Service("hello", "demo", List.of(new GatewayConfig.Listener(80, List.of(target))))),
                List.of(new GatewayConfig.Endpoint("hello", "demo", "hello", Map.of())));
        Gateway gateway = Gateway.start(config, dir);
        Agent agent = new Agent(new AgentConfig("localhost:" + gateway.agentAddress().getPort(), "demo-agent", token, null,
                gateway.caFile().toString(), null, null, null, null, null, List.of(target)));
        AutoCloseable all = () -> {
            agent.close();
            gateway.close();
            privateService.stop(0);
        };
        agent.start();
        if (!agent.awaitSession(SESSION_WAIT)) {
            all.close();
            throw new IllegalStateException("the demo agent did not establish a session within " + SESSION_WAIT.toSeconds() + "s");
        }
        InetSocketAddress endpoint = gateway.endpointAddresses().get("hello").get(80);
        String url = "http://127.0.0.1:" + endpoint.getPort() + "/";
        System.out.println();
        System.out.println("Underpass demo");
        System.out.println("  private service (reachable only by the agent): http://" + target + "/");
        System.out.println("  agent session:  agent -> gateway " + gateway.agentAddress() + " (TLS 1.3, HTTP/2)");
        System.out.println("  endpoint:       " + url);
        System.out.println();
        if (check) {
            String response = get(endpoint);
            System.out.println(response);
            all.close();
            return response.startsWith("HTTP/1.1 200") ? 0 : 1;
        }
        System.out.println("Try:  curl " + url + "      (Ctrl-C stops the demo)");
        Shutdown.awaitSignal(all);
        return 0;
    }

    /** A plain HTTP/1.1 GET over a socket, as curl would send it. */
    private static String get(InetSocketAddress endpoint) throws IOException {
        try (Socket s = new Socket("127.0.0.1", endpoint.getPort())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
