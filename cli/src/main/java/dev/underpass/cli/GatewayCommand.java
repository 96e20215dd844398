package dev.underpass.cli;

import dev.underpass.gateway.Gateway;
import dev.underpass.gateway.GatewayConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "gateway",
        mixinStandardHelpOptions = true,
        description =
                "Run the gateway: the HTTPS API and its store, the agent port (TLS 1.3) and the endpoint listeners.",
        subcommands = {GatewayAuditVerifyCommand.class, GatewayResealCommand.class, GatewayNodesCommand.class})
final class GatewayCommand implements Callable<Integer> {
    @Option(
            names = "--config",
            paramLabel = "FILE",
            description =
                    "Gateway configuration (YAML). Default: DATA_DIR/gateway.yaml if it exists, else the embedded defaults.")
    Path config;

    @Option(
            names = "--data-dir",
            paramLabel = "DIR",
            defaultValue = "${env:UNDERPASS_DATA_DIR:-underpass-data}",
            description = "Where the gateway keeps its state and generated certificates (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(
            names = "--agent-listen",
            paramLabel = "HOST:PORT",
            description = "Address of the agent port, overriding the configuration (default "
                    + GatewayConfig.DEFAULT_AGENT_LISTEN + ").")
    String agentListen;

    @Option(
            names = "--api-listen",
            paramLabel = "HOST:PORT",
            description = "Address of the HTTPS API, overriding the configuration (default "
                    + GatewayConfig.DEFAULT_API_LISTEN + ").")
    String apiListen;

    @Option(
            names = "--proxy-listen",
            paramLabel = "HOST:PORT",
            description = "Address of the forward proxy for consumers, overriding the configuration (default "
                    + GatewayConfig.DEFAULT_PROXY_LISTEN + ").")
    String proxyListen;

    @Option(
            names = "--sni-listen",
            paramLabel = "HOST:PORT",
            description = "Address of the TLS port that routes by server name, overriding the configuration (default "
                    + GatewayConfig.DEFAULT_SNI_LISTEN + ").")
    String sniListen;

    @Option(
            names = "--metrics-listen",
            paramLabel = "HOST:PORT",
            description =
                    "Address of /metrics (Prometheus), /healthz and /readyz over plain HTTP, overriding the configuration (default "
                            + GatewayConfig.DEFAULT_METRICS_LISTEN + ").")
    String metricsListen;

    @Override
    public Integer call() throws Exception {
        Path file = config != null ? config : dataDir.resolve("gateway.yaml");
        GatewayConfig c;
        if (Files.exists(file)) {
            c = GatewayConfig.load(file);
            LoggerFactory.getLogger(Gateway.class).info("configuration {}", file);
        } else if (config != null) {
            throw new IllegalArgumentException("--config: " + config + " (expected: an existing YAML file)");
        } else {
            c = GatewayConfig.defaults();
            LoggerFactory.getLogger(Gateway.class).info("no {}: running with the embedded defaults", file);
        }
        c = c.withListen(agentListen, apiListen, proxyListen, sniListen, metricsListen);
        Gateway gateway = Gateway.start(c, dataDir);
        Shutdown.awaitSignal(gateway::drain, gateway);
        return 0;
    }
}
