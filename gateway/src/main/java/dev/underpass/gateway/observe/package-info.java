/** What operators see: the gateway's named loggers, its metrics, and ConnectionReports, the one listener that turns connection events into log lines, metrics and audit records. */
package dev.underpass.gateway.observe;
