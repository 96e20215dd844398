package dev.underpass.gateway.consumer;

import dev.underpass.controlplane.endpoint.EndpointState;
import dev.underpass.controlplane.endpoint.Endpoints;
import dev.underpass.controlplane.service.HealthCheck;
import dev.underpass.controlplane.service.WhenAllUnhealthy;
import dev.underpass.gateway.events.EndpointRoute;
import dev.underpass.protocol.HostAndPort;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes the endpoint listeners follow the store: opens the ports of pending and available
 * endpoints (making pending ones available), closes those of endpoints that are rejected or
 * deleted and resets their live connections, and expires stale connection requests. It runs on
 * one thread, after every change and every few seconds. The nodes of a cluster share the store:
 * the first node to record an endpoint's gateway ports wins, and every node listens on those.
 */
public final class EndpointProvisioner implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("underpass.gateway.endpoints");
    static final Duration POLL_INTERVAL = Duration.ofSeconds(5);

    private final Endpoints endpoints;
    private final EndpointPorts listeners;
    private final EventLoopGroup group;
    private final String bindHost;
    private final int[] portRange;
    private final Duration requestTtl;
    private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "underpass-endpoints");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean queued = new AtomicBoolean();
    private final ConsumerRoutes consumerRoutes;
    /** The service port that the TLS listener routing by server name stands for. */
    private final int sniServicePort;
    /** Endpoint id to (service port to its listener); touched only on {@link #thread}. */
    private final Map<String, Map<Integer, EndpointPorts.BoundPort>> bound = new HashMap<>();
    /** Why the last port could not be bound, for the failure reason; touched only on {@link #thread}. */
    private String lastBindError;

    private volatile String storeProblem;

    public EndpointProvisioner(
            Endpoints endpoints,
            EndpointPorts listeners,
            ConsumerRoutes consumerRoutes,
            int sniServicePort,
            EventLoopGroup group,
            String bindHost,
            int[] portRange,
            Duration requestTtl) {
        this.sniServicePort = sniServicePort;
        this.endpoints = endpoints;
        this.consumerRoutes = consumerRoutes;
        this.listeners = listeners;
        this.group = group;
        this.bindHost = bindHost;
        this.portRange = portRange;
        this.requestTtl = requestTtl;
    }

    /** Opens what the store says is open, before returning; then follows changes. */
    public void start() throws Exception {
        thread.submit(this::reconcile).get(60, TimeUnit.SECONDS);
        thread.scheduleWithFixedDelay(
                this::reconcileSafely, POLL_INTERVAL.toMillis(), POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Asks for a pass soon; requests made while one is waiting are folded into it. */
    public void changed() {
        if (queued.compareAndSet(false, true) && !thread.isShutdown()) {
            try {
                thread.execute(() -> {
                    queued.set(false);
                    reconcileSafely();
                });
            } catch (RejectedExecutionException stopping) {
                // the gateway drains or stops: no listener opens any more, nothing to follow
            }
        }
    }

    private void reconcileSafely() {
        try {
            reconcile();
            storeProblem = null;
        } catch (RuntimeException e) {
            storeProblem = "the last endpoint pass failed: " + e;
            log.warn("endpoint pass failed, retried in {}s: {}", POLL_INTERVAL.toSeconds(), e.toString());
        }
    }

    /** Why the last pass over the store failed, or null when it worked: for readiness. */
    public String storeProblem() {
        return storeProblem;
    }

    private void reconcile() {
        try {
            int expired = endpoints.expireRequests(requestTtl);
            if (expired > 0) {
                log.info("{} connection request(s) expired after {} without a decision", expired, requestTtl);
            }
        } catch (RuntimeException e) {
            log.warn(
                    "expiring connection requests failed, retried in {}s: {}", POLL_INTERVAL.toSeconds(), e.toString());
        }
        List<Endpoints.Listening> wanted = endpoints.listening();
        Set<String> ids = new HashSet<>();
        wanted.forEach(e -> ids.add(e.id()));
        // Closing comes first, so that a failure while opening never keeps a rejected endpoint open;
        // its names go before its listeners.
        consumerRoutes.retain(ids);
        for (String id : List.copyOf(bound.keySet())) {
            if (!ids.contains(id)) {
                closeAll(id, "it is no longer pending or available");
            }
        }
        for (String id : endpoints.deleting()) {
            closeAll(id, "it is being deleted");
            endpoints.released(id);
            log.info("endpoint {} deleted", id);
        }
        Set<Integer> taken = new HashSet<>(endpoints.allocatedPorts());
        Map<ConsumerRoutes.Key, EndpointPorts.BoundPort> names = new HashMap<>();
        Map<String, EndpointPorts.BoundPort> serverNames = new HashMap<>();
        Set<String> ambiguous = new HashSet<>();
        for (Endpoints.Listening e : wanted) {
            try {
                provision(e, taken);
            } catch (RuntimeException failure) {
                log.warn(
                        "endpoint {}: provisioning failed, retried in {}s: {}",
                        e.id(),
                        POLL_INTERVAL.toSeconds(),
                        failure.toString());
            }
            Map<Integer, EndpointPorts.BoundPort> mine = bound.get(e.id());
            if (mine != null) {
                // The names lead where the endpoint's own ports lead, and only while those are open.
                mine.forEach((port, listener) -> e.dnsNames()
                        .forEach(name -> names.put(new ConsumerRoutes.Key(e.consumerAccount(), name, port), listener)));
                EndpointPorts.BoundPort tls = mine.get(sniServicePort);
                if (tls != null) {
                    for (String name : e.dnsNames()) {
                        // Without credentials, a private name two consumers share leads nowhere.
                        if (serverNames.putIfAbsent(HostAndPort.normaliseName(name), tls) != null) {
                            ambiguous.add(HostAndPort.normaliseName(name));
                        }
                    }
                }
            }
        }
        ambiguous.forEach(serverNames::remove);
        consumerRoutes.publish(names, serverNames);
    }

    private void provision(Endpoints.Listening e, Set<Integer> taken) {
        Map<Integer, EndpointPorts.BoundPort> mine = bound.computeIfAbsent(e.id(), k -> new LinkedHashMap<>());
        Map<Integer, Integer> ports = new LinkedHashMap<>();
        String failure = null;
        String serviceName = e.service().substring(e.service().indexOf('/') + 1); // health ids use the bare name
        for (Map.Entry<Integer, List<String>> l : e.targets().entrySet()) {
            int servicePort = l.getKey();
            EndpointRoute route = new EndpointRoute(
                    e.id(),
                    e.consumerAccount(),
                    e.service(),
                    e.providerAccount(),
                    servicePort,
                    l.getValue().stream()
                            .map(t -> new EndpointRoute.Target(
                                    HostAndPort.parse(t), HealthCheck.id(serviceName, servicePort, t)))
                            .toList(),
                    EndpointRoute.Balancing.of(e.loadBalancing().text()),
                    e.whenAllUnhealthy() != WhenAllUnhealthy.FAIL_CLOSED);
            EndpointPorts.BoundPort listener = mine.get(servicePort);
            Integer recorded = e.gatewayPorts().get(servicePort);
            if (listener != null && movedElsewhere(listener, recorded, taken, e.gatewayPorts())) {
                // Another node recorded a port first (nodes share the store): every node follows it.
                close(e.id(), servicePort, mine.remove(servicePort), "the store records gateway port " + recorded);
                listener = null;
            }
            if (listener != null) {
                if (!listener.route().equals(route)) {
                    listener.route(route);
                    log.info(
                            "endpoint {} port {} now goes to targets {} ({}, {})",
                            e.id(),
                            servicePort,
                            route.addresses(),
                            route.balancing(),
                            route.failOpen() ? "fails open" : "fails closed");
                }
            } else {
                listener = bind(route, recorded, taken);
                if (listener == null) {
                    failure = "no usable gateway port in " + portRange[0] + "-" + portRange[1] + " for service port "
                            + servicePort + (lastBindError == null ? "" : " (last error: " + lastBindError + ")");
                    break;
                }
                mine.put(servicePort, listener);
                log.info(
                        "endpoint {} (account {}) service {} port {} listening on {} -> targets {}",
                        e.id(),
                        e.consumerAccount(),
                        e.service(),
                        servicePort,
                        listener.address(),
                        route.addresses());
            }
            ports.put(servicePort, listener.address().getPort());
        }
        for (Integer gone : List.copyOf(mine.keySet())) {
            if (!e.targets().containsKey(gone)) {
                close(e.id(), gone, mine.remove(gone), "the service no longer has port " + gone);
            }
        }
        if (failure != null) {
            log.warn("endpoint {}: {}", e.id(), failure);
            if (e.state() == EndpointState.PENDING) {
                closeAll(e.id(), "it could not be provisioned");
                endpoints.provisioningFailed(e.id(), failure);
            }
            return;
        }
        if (e.state() == EndpointState.PENDING || !ports.equals(e.gatewayPorts())) {
            Map<Integer, Integer> now =
                    endpoints.provisioned(e.id(), e.gatewayPorts(), ports).orElse(null);
            if (now == null) {
                closeAll(e.id(), "it left pending meanwhile");
            } else if (!now.equals(ports)) {
                log.info("endpoint {}: another node recorded gateway ports {} first; following them", e.id(), now);
                changed();
            } else if (e.state() == EndpointState.PENDING) {
                log.info("endpoint {} available on {} port(s)", e.id(), ports.size());
            }
        }
    }

    /**
     * Whether {@code listener} must move: the store records another port for it, or its port is
     * recorded for another endpoint (two nodes chose the same free port at once; one of them lost).
     */
    private static boolean movedElsewhere(
            EndpointPorts.BoundPort listener, Integer recorded, Set<Integer> taken, Map<Integer, Integer> own) {
        int port = listener.address().getPort();
        if (recorded != null) {
            return port != recorded;
        }
        return taken.contains(port) && !own.containsValue(port);
    }

    /** A listener on the endpoint's recorded port if it is free, else on the first free port of the range. */
    private EndpointPorts.BoundPort bind(EndpointRoute route, Integer recorded, Set<Integer> taken) {
        if (recorded != null) {
            EndpointPorts.BoundPort l = tryBind(route, recorded);
            if (l != null) {
                return l;
            }
            log.warn(
                    "endpoint {} port {}: its recorded gateway port {} is taken; choosing another",
                    route.endpoint(),
                    route.servicePort(),
                    recorded);
        }
        for (int port = portRange[0]; port <= portRange[1]; port++) {
            if (taken.contains(port)) {
                continue;
            }
            EndpointPorts.BoundPort l = tryBind(route, port);
            if (l != null) {
                taken.add(port);
                return l;
            }
        }
        return null;
    }

    /** A listener on {@code port}, or null when the port cannot be used (taken, not permitted, ...). */
    private EndpointPorts.BoundPort tryBind(EndpointRoute route, int port) {
        try {
            return listeners.bind(group, new InetSocketAddress(bindHost, port), route);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (Exception e) { // sync() rethrows the bind failure undeclared
            lastBindError = bindHost + ":" + port + ": " + e.getMessage();
            return null;
        }
    }

    private void closeAll(String id, String why) {
        Map<Integer, EndpointPorts.BoundPort> mine = bound.remove(id);
        if (mine != null) {
            new ArrayList<>(mine.keySet()).forEach(port -> close(id, port, mine.get(port), why));
        }
    }

    private static void close(String id, int servicePort, EndpointPorts.BoundPort l, String why) {
        int live = l.connections();
        InetSocketAddress address = l.address();
        l.close();
        log.info(
                "endpoint {} port {} closed on {}: {}; {} live connection(s) reset",
                id,
                servicePort,
                address,
                why,
                live);
    }

    @Override
    public void close() {
        thread.shutdownNow();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
