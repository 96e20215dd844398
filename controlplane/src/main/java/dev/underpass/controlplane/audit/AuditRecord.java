package dev.underpass.controlplane.audit;

import java.time.Instant;

/**
 * One record of an account's audit chain, as stored and as the API shows it. {@code details} is
 * the JSON text exactly as it was hashed; {@code id} is shared by the copies of one event in two
 * accounts' chains (a consumer's connection into a provider's service is in both).
 */
public record AuditRecord(
        String account,
        long seq,
        String id,
        Instant at,
        String actor,
        String action,
        String target,
        String outcome,
        String details,
        String prevHash,
        String hash) {}
