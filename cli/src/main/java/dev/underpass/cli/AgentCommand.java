package dev.underpass.cli;

import dev.underpass.agent.Agent;
import dev.underpass.agent.config.AgentConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "agent",
        mixinStandardHelpOptions = true,
        description = {
            "Run an agent: dial out to the gateway and carry its streams to the allowed targets, "
                    + "and connections to its listeners to the endpoints they name.",
            "The token comes from --token-file or the " + AgentConfig.TOKEN_ENV
                    + " environment variable, never a flag;",
            "an enrolled agent ('underpass agent enroll') uses --client-cert and --client-key instead;",
            "with OIDC workload identity, --identity (or " + AgentConfig.IDENTITY_ENV + ") and --oidc-token-file (or "
                    + AgentConfig.OIDC_TOKEN_FILE_ENV + ") replace the token."
        },
        subcommands = AgentEnrollCommand.class)
final class AgentCommand implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE", description = "Agent configuration (YAML); flags override it.")
    Path config;

    @Option(names = "--gateway", paramLabel = "HOST:PORT", description = "The gateway's agent port.")
    String gateway;

    @Option(names = "--name", description = "This agent's name in the gateway's logs (default: the host name).")
    String name;

    @Option(names = "--token-file", paramLabel = "FILE", description = "File holding the agent token.")
    String tokenFile;

    @Option(
            names = "--client-cert",
            paramLabel = "FILE",
            description =
                    "Authenticate with this client certificate (PEM, from 'underpass agent enroll') instead of a token.")
    String clientCert;

    @Option(
            names = "--client-key",
            paramLabel = "FILE",
            description = "The client certificate's key (PEM, sealed if it was enrolled with "
                    + dev.underpass.protocol.SecretBox.KEY_ENV + " set).")
    String clientKey;

    @Option(
            names = "--identity",
            paramLabel = "wid-...",
            description =
                    "Authenticate as this agent identity ('underpass agent-identity create') with a JWT instead of a token.")
    String identity;

    @Option(
            names = "--oidc-token-file",
            paramLabel = "FILE",
            description =
                    "File holding the JWT for --identity, read again at every connect (e.g. a Kubernetes projected token).")
    String oidcTokenFile;

    @Mixin
    GatewayTrustOptions trust = new GatewayTrustOptions();

    @Option(
            names = "--metrics-listen",
            paramLabel = "HOST:PORT",
            description =
                    "Serve /metrics (Prometheus), /healthz and /readyz over plain HTTP here (default: off; the agent listens on nothing).")
    String metricsListen;

    @Option(
            names = "--target",
            paramLabel = "HOST:PORT",
            description = "A target this agent may reach; repeatable, added to the config's list.")
    List<String> targets = new ArrayList<>();

    @Option(
            names = "--listen",
            paramLabel = "ADDRESS->ENDPOINT:PORT",
            description =
                    "An agent listener: connections to ADDRESS in this network reach service port PORT of "
                            + "ENDPOINT of this agent's account (its id, ep-..., or the service as provider/service), "
                            + "e.g. '10.0.0.5:5432 -> ep-0123456789abcdef:5432'; "
                            + "or 'ADDRESS -> proxy' for a forward proxy (HTTP CONNECT, SOCKS5) to every available endpoint "
                            + "of the account; repeatable, added to the config's listen list. Opens once the endpoint is available.")
    List<String> listen = new ArrayList<>();

    @Option(
            names = "--target-network",
            paramLabel = "CIDR",
            description = "A network targets' names may lead into "
                    + "(e.g. 10.20.0.0/16); repeatable. Without any, names may lead anywhere but to loopback, link-local "
                    + "(cloud metadata) and other special addresses.")
    List<String> targetNetworks = new ArrayList<>();

    @Option(
            names = "--links",
            paramLabel = "N",
            description = "How many nodes of a gateway cluster to keep a link to (default: " + AgentConfig.DEFAULT_LINKS
                    + "; the gateway names its nodes; 1-" + AgentConfig.MAX_LINKS + ").")
    Integer links;

    @Override
    public Integer call() throws Exception {
        AgentConfig file = config == null ? AgentConfig.empty() : AgentConfig.load(config);
        String token = System.getenv(AgentConfig.TOKEN_ENV);
        // The environment's token is a default for agents with no other credential; a flag names one explicitly.
        String id = identity != null ? identity : System.getenv(AgentConfig.IDENTITY_ENV);
        String jwtFile = oidcTokenFile != null ? oidcTokenFile : System.getenv(AgentConfig.OIDC_TOKEN_FILE_ENV);
        boolean otherCredential = tokenFile != null
                || clientCert != null
                || clientKey != null
                || identity != null
                || oidcTokenFile != null;
        AgentConfig flags = new AgentConfig(
                gateway,
                name,
                otherCredential ? null : token,
                tokenFile,
                trust.caFile,
                trust.pin,
                trust.proxy,
                null,
                null,
                null,
                targets,
                metricsListen,
                null,
                clientCert,
                clientKey,
                id,
                jwtFile,
                targetNetworks,
                links,
                listen);
        AgentConfig merged = file.overriddenBy(flags);
        if (merged.proxy() == null && merged.gateway() != null) {
            String envProxy = EnvironmentProxy.forHost(merged.gatewayAddress().host(), System.getenv());
            if (envProxy != null) {
                merged = merged.overriddenBy(
                        new AgentConfig(null, null, null, null, null, null, envProxy, null, null, null, null));
            }
        }
        Agent agent = new Agent(merged);
        agent.start();
        Shutdown.awaitSignal(agent::drain, agent);
        return 0;
    }
}
