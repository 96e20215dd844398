/**
 * What every part of the control plane shares: who calls and what it may do (principal, role,
 * scope), how an operation is refused ({@link dev.underpass.controlplane.core.Refused}), names,
 * pages, secrets and ids, and how times go to the store.
 */
package dev.underpass.controlplane.core;
