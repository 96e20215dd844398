/**
 * The agent's link to the gateway: TLS 1.3 with the gateway verified (optionally through an HTTP
 * CONNECT egress proxy), the session and its control messages, reconnects with backoff, and
 * enrollment for a client certificate.
 */
package dev.underpass.agent.link;
