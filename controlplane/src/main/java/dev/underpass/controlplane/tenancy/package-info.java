/** Accounts and their users, and how users log in with OIDC instead of an API key. */
package dev.underpass.controlplane.tenancy;
