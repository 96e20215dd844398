/**
 * The Underpass wire protocol (see docs/protocol.md): HTTP/2 over TLS 1.3 between agent and
 * gateway, the control messages of an agent session, and the byte relay between a TCP socket
 * and an HTTP/2 stream that both sides use.
 */
package dev.underpass.protocol;
