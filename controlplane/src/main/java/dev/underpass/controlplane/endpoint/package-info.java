/**
 * Endpoints: a consumer account's attachment to one endpoint service, its state machine, what the
 * gateway's data plane listens on, diagnosis, and the expiry of connection requests.
 * {@code Endpoints} holds the rules (who may do what, and when); {@code EndpointRows} every
 * statement on the endpoint tables.
 */
package dev.underpass.controlplane.endpoint;
