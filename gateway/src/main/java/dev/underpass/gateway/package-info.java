/**
 * The gateway: accepts agent sessions (HTTP/2 over TLS 1.3), opens a TCP listener per endpoint
 * port and carries each consumer connection as one stream to an agent that serves the service.
 */
package dev.underpass.gateway;
