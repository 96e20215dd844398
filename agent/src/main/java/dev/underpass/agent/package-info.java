/**
 * The agent: dials out to the gateway over TLS 1.3 (optionally through an HTTP CONNECT egress
 * proxy), keeps its session up, and dials only the targets its local configuration allows.
 */
package dev.underpass.agent;
