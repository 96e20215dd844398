package dev.underpass.gateway;

import dev.underpass.controlplane.AgentTokens;
import java.net.SocketAddress;
import java.util.Optional;

/**
 * Checks the token an agent presents. The store keeps only SHA-256 hashes, so a leaked database
 * does not leak working tokens; the check waits on the store, so it runs off the event loop.
 */
interface AgentCredentials {
    /**
     * Who a token presented from {@code from} belongs to; empty when it is unknown, revoked or
     * expired.
     *
     * @throws dev.underpass.controlplane.ApiException 429 (with {@code retry-after}) when too many
     *         failed attempts came from {@code from} or with the token's prefix: it was not checked
     */
    Optional<AgentTokens.Identity> verify(String token, SocketAddress from);
}
