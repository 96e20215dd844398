package dev.underpass.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The connection test a support engineer runs first: each hop from here to the private target,
 * with a verdict and what to do about a failure. Like {@code curl -v telnet://host:port}, but
 * knowing the endpoint.
 */
@Command(
        name = "test",
        mixinStandardHelpOptions = true,
        description = {
            "Test the way to an endpoint's target, hop by hop: the gateway, the endpoint's state, the "
                    + "provider's agents, a TCP connection through the endpoint, and a TLS handshake where the port speaks TLS.",
            "With --via-listener, from the customer's network: your agent's listener, then the same hops through it.",
            "Exits 1 when a check fails."
        })
final class ConnectionTestCommand implements Callable<Integer> {
    @Parameters(paramLabel = "ENDPOINT", description = "The endpoint's id (ep-...).")
    String endpoint;

    @Option(
            names = "--port",
            paramLabel = "N",
            description = "The service port to test (default: the endpoint's first).")
    Integer port;

    @Option(names = "--tls", description = "Try a TLS handshake even on a port not known for TLS.")
    boolean tls;

    @Option(
            names = "--via-listener",
            paramLabel = "HOST:PORT",
            description = "From the customer's network (bidirectional): test through this agent listener of "
                    + "your account's agent instead of the endpoint's gateway address, after checking that the "
                    + "gateway keeps it open.")
    String viaListener;

    @Mixin
    Output output;

    @Override
    public Integer call() {
        ConnectionChecks checks = new ConnectionChecks();
        JsonNode diagnosis = null;
        JsonNode listeners = null;
        CliConfig config = CliConfig.current();
        try (ApiClient api = ApiClient.connect(config)) {
            long start = System.nanoTime();
            try {
                api.get("/v1/gateway");
                checks.pass(
                        "gateway",
                        config.gateway() + " answered in " + (System.nanoTime() - start) / 1_000_000 + " ms");
                diagnosis = api.get("/v1/endpoints/" + ApiClient.segment(endpoint) + "/diagnosis");
                if (viaListener != null) {
                    listeners = api.get("/v1/endpoints/" + ApiClient.segment(endpoint) + "/agent-listeners");
                }
            } catch (ApiError e) {
                checks.fail(diagnosis == null && checks.size() == 0 ? "gateway" : "endpoint", e.getMessage());
            }
        }
        if (diagnosis != null) {
            checks.endpoint(diagnosis, port, tls, viaListener, listeners);
        }
        ObjectNode result = ApiClient.JSON.createObjectNode().put("endpoint", endpoint);
        ArrayNode list = result.putArray("checks");
        checks.all()
                .forEach(c -> list.addObject()
                        .put("check", c.name())
                        .put("verdict", c.verdict())
                        .put("detail", c.detail()));
        result.put("ok", !checks.failed());
        output.print(result, out -> {
            Table t = Table.of("CHECK", "VERDICT", "DETAIL");
            checks.all().forEach(c -> t.row(c.name(), c.verdict(), c.detail()));
            t.print(out);
        });
        return checks.failed() ? 1 : 0;
    }
}
