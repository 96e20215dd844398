/**
 * The agent, assembled: {@link dev.underpass.agent.Agent} builds the link to the gateway, the
 * target dialer and the health checker from one configuration; the CLI starts it.
 */
package dev.underpass.agent;
