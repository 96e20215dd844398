/**
 * Metrics and probes shared by gateway and agent (docs/adr/0009-metrics-and-probes.md): a
 * Prometheus registry whose label values are bounded ({@link dev.underpass.telemetry.Telemetry}),
 * and the plain-HTTP ops port that serves it with liveness and readiness
 * ({@link dev.underpass.telemetry.OpsServer}). Also the masking of secrets in every log line
 * (docs/adr/0011-secret-masking.md): {@link dev.underpass.telemetry.SecretMasker}, used by the
 * Logback conversion word {@code %mask} ({@link dev.underpass.telemetry.MaskingConverter}).
 */
package dev.underpass.telemetry;
