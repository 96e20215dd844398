package dev.underpass.cli;

import dev.underpass.agent.Agent;
import dev.underpass.agent.AgentConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "agent", mixinStandardHelpOptions = true,
        description = {"Run an agent: dial out to the gateway and carry its streams to the allowed targets.",
            "The token comes from --token-file or the " + AgentConfig.TOKEN_ENV + " environment variable, never a flag."})
final class AgentCommand implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE", description = "Agent configuration (YAML); flags override it.")
    Path config;

    @Option(names = "--gateway", paramLabel = "HOST:PORT", description = "The gateway's agent port.")
    String gateway;

    @Option(names = "--name", description = "This agent's name in the gateway's logs (default: the host name).")
    String name;

    @Option(names = "--token-file", paramLabel = "FILE", description = "File holding the agent token.")
    String tokenFile;

    @Option(names = "--ca-file", paramLabel = "FILE", description = "Trust the gateway's certificate through this CA (PEM).")
    String caFile;

    @Option(names = "--pin", paramLabel = "sha256:HEX", description = "Trust only a gateway chain holding this certificate fingerprint.")
    String pin;

    @Option(names = "--proxy", paramLabel = "URL",
            description = "HTTP CONNECT egress proxy, http://[user:password@]host:port (default: HTTPS_PROXY unless NO_PROXY excludes the gateway).")
    String proxy;

    @Option(names = "--metrics-listen", paramLabel = "HOST:PORT",
            description = "Serve /metrics (Prometheus), /healthz and /readyz over plain HTTP here (default: off; the agent listens on nothing).")
    String metricsListen;

    @Option(names = "--target", paramLabel = "HOST:PORT", description = "A target this agent may reach; repeatable, added to the config's list.")
    List<String> targets = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        AgentConfig file = config == null ? AgentConfig.empty() : AgentConfig.load(config);
        String token = System.getenv(AgentConfig.TOKEN_ENV);
        AgentConfig flags = new AgentConfig(gateway, name, tokenFile == null ? token : null, tokenFile, caFile, pin,
                proxy, null, null, null, targets, metricsListen, null);
        AgentConfig merged = file.overriddenBy(flags);
        if (merged.proxy() == null && merged.gateway() != null) {
            String envProxy = EnvironmentProxy.forHost(merged.gatewayAddress().host(), System.getenv());
            if (envProxy != null) {
                merged = merged.overriddenBy(new AgentConfig(null, null, null, null, null, null, envProxy,
                        null, null, null, null));
            }
        }
        Agent agent = new Agent(merged);
        agent.start();
        Shutdown.awaitSignal(agent::drain, agent);
        return 0;
    }
}
