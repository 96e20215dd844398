/**
 * The agent's Prometheus metrics, labelled by session, target and health check; a leaf that the
 * link and the target dialer write to, so neither depends on the other for counting.
 */
package dev.underpass.agent.metrics;
