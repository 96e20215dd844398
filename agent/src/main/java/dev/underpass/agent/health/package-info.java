/** Health checks of targets the gateway asks for: TCP, TLS or HTTP(S) probes, thresholds and verdicts. */
package dev.underpass.agent.health;
