package dev.underpass.controlplane.service;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * How the provider's agents check the targets behind one listener of a service, as a Network
 * Load Balancer's target group does: a TCP connect, an HTTP(S) request whose status must fall in
 * {@code matcher}, or a TLS handshake, every {@code intervalSeconds}; a target turns healthy after
 * {@code healthyThreshold} passes in a row and unhealthy after {@code unhealthyThreshold} failures.
 *
 * <p>{@code protocol} is the text of a {@link HealthCheckProtocol}, not the enum: requests carry
 * this record too, and an unknown spelling must reach {@code HealthChecks.complete} to be reported
 * with the request's other errors. Views always carry a valid, lowercase one.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record HealthCheck(
        String protocol,
        String path,
        String matcher,
        Integer intervalSeconds,
        Integer timeoutSeconds,
        Integer healthyThreshold,
        Integer unhealthyThreshold) {
    public static final HealthCheck DEFAULT =
            new HealthCheck(HealthCheckProtocol.DEFAULT.text(), null, null, 10, 5, 3, 2);

    /** The id under which agents report a target of a listener: unique within the provider account. */
    public static String id(String service, int port, String target) {
        return service + ":" + port + "/" + target;
    }
}
