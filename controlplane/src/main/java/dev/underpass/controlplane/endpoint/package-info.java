/**
 * Endpoints: a consumer account's attachment to one endpoint service, its state machine, what the
 * gateway's data plane listens on, diagnosis, and the expiry of connection requests.
 */
package dev.underpass.controlplane.endpoint;
