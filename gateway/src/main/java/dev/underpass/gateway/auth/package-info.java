/** How agents and API users prove who they are: agent tokens, identities' JWTs (OIDC workload identity), client certificates of the agent CA, and users' OIDC logins. */
package dev.underpass.gateway.auth;
