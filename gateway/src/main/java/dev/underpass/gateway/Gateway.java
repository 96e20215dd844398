package dev.underpass.gateway;

import dev.underpass.protocol.HostAndPort;
import dev.underpass.protocol.Tls;
import dev.underpass.protocol.Transport;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running gateway: the agent port and one listener per endpoint port, from a validated
 * configuration. {@link #close()} stops listening, ends agent sessions and frees the threads.
 */
public final class Gateway implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Gateway.class);

    private final EventLoopGroup group;
    private final AgentServer agentServer;
    private final EndpointListeners endpoints;
    private final InetSocketAddress agentAddress;
    private final Map<String, Map<Integer, InetSocketAddress>> endpointAddresses;
    private final Path caFile;

    private Gateway(EventLoopGroup group, AgentServer agentServer, EndpointListeners endpoints,
                    InetSocketAddress agentAddress, Map<String, Map<Integer, InetSocketAddress>> endpointAddresses,
                    Path caFile) {
        this.group = group;
        this.agentServer = agentServer;
        this.endpoints = endpoints;
        this.agentAddress = agentAddress;
        this.endpointAddresses = endpointAddresses;
        this.caFile = caFile;
    }

    /**
     * Starts a gateway. Certificates are generated under {@code dataDir} unless configured.
     *
     * @throws IllegalArgumentException listing every configuration problem
     */
    public static Gateway start(GatewayConfig config, Path dataDir) throws IOException, InterruptedException {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(dataDir, "dataDir");
        List<String> errors = config.validate();
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("invalid gateway configuration:\n  " + String.join("\n  ", errors));
        }
        File cert;
        File key;
        Path ca = null;
        if (config.tls() != null) {
            cert = new File(config.tls().certificate());
            key = new File(config.tls().privateKey());
        } else {
            GatewayCertificates generated = GatewayCertificates.ensure(dataDir.resolve("tls"), config.serverNames());
            cert = generated.certificateFile().toFile();
            key = generated.privateKeyFile().toFile();
            ca = generated.caFile();
        }
        SslContext ssl;
        try {
            ssl = Tls.server(cert, key);
        } catch (IOException | IllegalArgumentException e) {
            throw new IOException("tls: cannot load certificate " + cert + " and key " + key + ": " + e.getMessage(), e);
        }
        AgentRegistry registry = new AgentRegistry();
        EventLoopGroup group = Transport.group("underpass-gateway");
        AgentServer agentServer = new AgentServer(ssl,
                new AgentStreams(AgentCredentials.of(config), registry), config.heartbeatTimeout().toMillis());
        EndpointListeners endpoints = new EndpointListeners(registry, config.dialTimeout());
        try {
            HostAndPort listen = config.agentListenAddress();
            InetSocketAddress agentAddress = agentServer.bind(group, new InetSocketAddress(listen.host(), listen.port()));
            log.info("agent port listening on {} (TLS 1.3, {} transport, {} TLS)", agentAddress, Transport.name(), Tls.provider());
            if (ca != null) {
                log.info("agents trust the gateway with --ca-file {} or --pin {}", ca, GatewayCertificates.fingerprint(ca));
            }
            Map<String, Map<Integer, InetSocketAddress>> bound = bindEndpoints(config, group, endpoints);
            log.info("gateway ready: {} account(s), {} service(s), {} endpoint(s)",
                    config.accounts().size(), config.services().size(), config.endpoints().size());
            return new Gateway(group, agentServer, endpoints, agentAddress, bound, ca);
        } catch (IOException | RuntimeException | InterruptedException e) {
            endpoints.close();
            agentServer.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    private static Map<String, Map<Integer, InetSocketAddress>> bindEndpoints(
            GatewayConfig config, EventLoopGroup group, EndpointListeners endpoints)
            throws IOException, InterruptedException {
        Map<String, GatewayConfig.Service> services = new LinkedHashMap<>();
        config.services().forEach(s -> services.put(s.name(), s));
        Set<Integer> reserved = new HashSet<>();
        config.endpoints().forEach(e -> reserved.addAll(e.ports().values()));
        int[] range = config.endpointPortRange();
        int nextPort = range[0];
        Map<String, Map<Integer, InetSocketAddress>> result = new LinkedHashMap<>();
        for (GatewayConfig.Endpoint e : config.endpoints()) {
            GatewayConfig.Service s = services.get(e.service());
            Map<Integer, InetSocketAddress> ports = new LinkedHashMap<>();
            for (GatewayConfig.Listener l : s.listeners()) {
                List<HostAndPort> targets = new ArrayList<>();
                l.targets().forEach(t -> targets.add(HostAndPort.parse(t)));
                EndpointRoute route = new EndpointRoute(e.name(), e.account(), s.name(), s.account(), l.port(), targets);
                InetSocketAddress bound;
                Integer pinned = e.ports().get(l.port());
                if (pinned != null) {
                    bound = bindOrExplain(endpoints, group, config.endpointBind(), pinned, route);
                } else {
                    bound = null;
                    while (bound == null) {
                        if (nextPort > range[1]) {
                            throw new IOException("endpointPorts: " + config.endpointPorts()
                                    + " (expected: a range with a free port for every endpoint port)");
                        }
                        int port = nextPort++;
                        if (!reserved.contains(port)) {
                            bound = tryBind(endpoints, group, config.endpointBind(), port, route);
                        }
                    }
                }
                ports.put(l.port(), bound);
                log.info("endpoint {} (account {}) service {} port {} listening on {} -> targets {}",
                        e.name(), e.account(), s.name(), l.port(), bound, targets);
            }
            result.put(e.name(), Map.copyOf(ports));
        }
        return Map.copyOf(result);
    }

    private static InetSocketAddress bindOrExplain(EndpointListeners endpoints, EventLoopGroup group, String host,
                                                   int port, EndpointRoute route) throws IOException, InterruptedException {
        InetSocketAddress bound = tryBind(endpoints, group, host, port, route);
        if (bound == null) {
            throw new IOException("endpoint " + route.endpoint() + " port " + route.servicePort() + ": cannot listen on "
                    + host + ":" + port + " (expected: a free port)");
        }
        return bound;
    }

    private static InetSocketAddress tryBind(EndpointListeners endpoints, EventLoopGroup group, String host, int port,
                                             EndpointRoute route) throws InterruptedException {
        try {
            return endpoints.bind(group, new InetSocketAddress(host, port), route);
        } catch (Exception e) { // sync() rethrows the bind failure undeclared
            if (e instanceof java.net.BindException || String.valueOf(e.getMessage()).contains("Address already in use")) {
                return null;
            }
            throw e;
        }
    }

    public InetSocketAddress agentAddress() {
        return agentAddress;
    }

    /** Endpoint name to (service port to the gateway address consumers connect to). */
    public Map<String, Map<Integer, InetSocketAddress>> endpointAddresses() {
        return endpointAddresses;
    }

    /** The generated CA certificate, or null when the operator configured the certificate. */
    public Path caFile() {
        return caFile;
    }

    @Override
    public void close() {
        log.info("gateway stopping");
        endpoints.close();
        agentServer.close();
        group.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
        log.info("gateway stopped");
    }
}
