/**
 * The tamper-evident audit log: every control-plane change and every consumer connection,
 * appended to one hash chain per account (docs/adr/0014-audit-log.md). Writers are
 * {@link dev.underpass.controlplane.audit.AuditLog} (in the change's transaction) and the
 * gateway's connection writer; {@link dev.underpass.controlplane.audit.AuditEvents} reads and
 * checks the chains.
 */
package dev.underpass.controlplane.audit;
