package dev.underpass.gateway.consumer;

import dev.underpass.protocol.HostAndPort;
import java.util.Map;

/**
 * Where a consumer's hostname and port lead, per account: the names of the account's available
 * endpoints (generated, and verified private ones) and their service ports, to the endpoint's
 * listener for that port (so that a connection that came by name ends with the endpoint too). The provisioner
 * publishes a new table after every pass; readers never lock.
 */
public final class ConsumerRoutes {
    /** One account's name and port. */
    public record Key(String account, String host, int port) {
        public Key {
            host = HostAndPort.normaliseName(host);
        }
    }

    private volatile Map<Key, EndpointPorts.BoundPort> table = Map.of();
    /** Server name to the listener of the TLS service port, for names that lead to one endpoint only. */
    private volatile Map<String, EndpointPorts.BoundPort> serverNames = Map.of();
    /** Every name of an available endpoint, whatever its ports, across accounts. */
    private volatile java.util.Set<String> names = java.util.Set.of();

    /** The endpoint listener for {@code host:port} among {@code account}'s available endpoints, or null. */
    public EndpointPorts.BoundPort find(String account, String host, int port) {
        return table.get(new Key(account, host, port));
    }

    /** The endpoint listener a TLS server name leads to, across accounts, or null. */
    public EndpointPorts.BoundPort findByServerName(String host) {
        return serverNames.get(HostAndPort.normaliseName(host));
    }

    /** Whether {@code host} is a name of an available endpoint of any account. */
    public boolean isEndpointName(String host) {
        return names.contains(HostAndPort.normaliseName(host));
    }

    public void publish(Map<Key, EndpointPorts.BoundPort> next, Map<String, EndpointPorts.BoundPort> nextServerNames) {
        table = Map.copyOf(next);
        serverNames = Map.copyOf(nextServerNames);
        names = namesOf(table);
    }

    private static java.util.Set<String> namesOf(Map<Key, EndpointPorts.BoundPort> table) {
        return table.keySet().stream().map(Key::host).collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    /** Drops every name of an endpoint not in {@code endpointIds}, before their listeners close. */
    void retain(java.util.Set<String> endpointIds) {
        Map<Key, EndpointPorts.BoundPort> next = new java.util.HashMap<>(table);
        next.values().removeIf(l -> !endpointIds.contains(l.route().endpoint()));
        table = Map.copyOf(next);
        Map<String, EndpointPorts.BoundPort> tls = new java.util.HashMap<>(serverNames);
        tls.values().removeIf(l -> !endpointIds.contains(l.route().endpoint()));
        serverNames = Map.copyOf(tls);
        names = namesOf(table);
    }
}
