/**
 * Agent listeners (bidirectional): the local addresses the agent's file lists, opened and closed
 * on the gateway's word, each connection carried on a connect stream; and the agent's forward
 * proxy to its account's endpoints. Uses the link only through the session the composition hands it.
 */
package dev.underpass.agent.listener;
