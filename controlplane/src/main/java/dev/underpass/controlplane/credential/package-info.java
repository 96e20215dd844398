/**
 * The credentials principals and agents authenticate with (API keys, agent tokens, enrollments
 * and certificates, OIDC agent identities) and the limits on failed authentication attempts.
 */
package dev.underpass.controlplane.credential;
