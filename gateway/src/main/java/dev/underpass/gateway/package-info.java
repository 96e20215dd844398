/**
 * The gateway's composition: {@link dev.underpass.gateway.Gateway} builds every part with its
 * collaborators and starts them in order (agent port, endpoint ports, API, forward proxy, TLS
 * listener, DNS, ops server); {@link dev.underpass.gateway.GatewayConfig} is its configuration.
 * Dependencies run one way: consumer -> link -> (auth, pki) and everything -> observe -> audit ->
 * events (ArchitectureTest keeps it so).
 */
package dev.underpass.gateway;
