package dev.underpass.gateway;

import dev.underpass.protocol.HostAndPort;
import java.util.List;

/** Where one endpoint listener's connections go: the endpoint, its service and that port's targets. */
record EndpointRoute(String endpoint, String consumerAccount, String service, String providerAccount,
                     int servicePort, List<HostAndPort> targets) {
    EndpointRoute {
        targets = List.copyOf(targets);
    }
}
