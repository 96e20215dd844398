/**
 * The gateway's private DNS server: answers endpoint names for consumers over UDP and TCP, and
 * refuses or forwards other names.
 */
package dev.underpass.gateway.dns;
