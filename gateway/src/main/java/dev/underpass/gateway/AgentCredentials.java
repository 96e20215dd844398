package dev.underpass.gateway;

import dev.underpass.controlplane.AgentTokens;
import java.util.Optional;

/**
 * Checks the token an agent presents. The store keeps only SHA-256 hashes, so a leaked database
 * does not leak working tokens; the check waits on the store, so it runs off the event loop.
 */
interface AgentCredentials {
    /** Who a presented token belongs to; empty when it is unknown, revoked or expired. */
    Optional<AgentTokens.Identity> verify(String token);
}
