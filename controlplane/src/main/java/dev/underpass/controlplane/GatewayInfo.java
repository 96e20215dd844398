package dev.underpass.controlplane;

import static java.util.Objects.requireNonNull;

import dev.underpass.protocol.HostAndPort;

/**
 * What a client needs to use this gateway, as {@code GET /v1/gateway} answers it: where consumers
 * reach the forward proxy, under which domain endpoint DNS names live, and where agents dial and
 * how they pin the gateway (the console's "Add an agent" command). The gateway publishes
 * it with {@link ControlPlane#gatewayInfo(GatewayInfo)} once its proxy is bound; it names nothing
 * of any tenant.
 *
 * @param proxy          {@code HOST:PORT} (or {@code [v6]:PORT}) of the forward proxy, as consumers reach it
 * @param endpointDomain the domain under which generated endpoint DNS names live
 * @param version        the version of this description: {@value #VERSION}; it changes only when a field
 *                       changes meaning or goes away (new fields may appear without it)
 * @param agents         {@code HOST:PORT} where agents dial, or null when not known
 * @param caPin          {@code sha256:HEX} of the generated CA certificate for agents' {@code --pin}, or null
 */
public record GatewayInfo(String proxy, String endpointDomain, int version, String agents, String caPin) {
    public static final int VERSION = 1;

    public GatewayInfo {
        requireNonNull(proxy, "proxy");
        requireNonNull(endpointDomain, "endpointDomain");
        HostAndPort.parseDialable(proxy); // a bound proxy has a host and a real port
    }

    /** The current version's description of a proxy reached at {@code proxy}, without the agents' side. */
    public static GatewayInfo of(HostAndPort proxy, String endpointDomain) {
        return of(proxy, endpointDomain, null, null);
    }

    /** The current version's description, with where agents dial ({@code agents}) and the CA's {@code caPin}. */
    public static GatewayInfo of(HostAndPort proxy, String endpointDomain, HostAndPort agents, String caPin) {
        requireNonNull(proxy, "proxy");
        return new GatewayInfo(
                proxy.toString(), endpointDomain, VERSION, agents == null ? null : agents.toString(), caPin);
    }
}
