/** The agent link: the agent port, each link's streams and sessions, the registry that routes connections to sessions, pending connections, enrollment streams and the health checks pushed to agents. */
package dev.underpass.gateway.link;
