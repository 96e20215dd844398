/**
 * The control plane: accounts, users and roles, API keys and agent tokens, endpoint services and
 * endpoints with their states, all persisted in the store and checked against the caller.
 */
package dev.underpass.controlplane;
