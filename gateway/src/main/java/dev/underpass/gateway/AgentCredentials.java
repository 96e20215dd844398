package dev.underpass.gateway;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The agent tokens the gateway accepts, by SHA-256. The token itself is never kept: a presented
 * token is hashed and looked up, so a leaked configuration does not leak working tokens.
 */
final class AgentCredentials {
    /** Who a recognised token belongs to. */
    record Identity(String account, String tokenName) {
    }

    private final Map<String, Identity> byHash;

    private AgentCredentials(Map<String, Identity> byHash) {
        this.byHash = Map.copyOf(byHash);
    }

    static AgentCredentials of(GatewayConfig config) {
        Map<String, Identity> map = new HashMap<>();
        for (GatewayConfig.Account a : config.accounts()) {
            for (GatewayConfig.AgentToken t : a.agentTokens()) {
                map.put(t.sha256(), new Identity(a.name(), t.name()));
            }
        }
        return new AgentCredentials(map);
    }

    Optional<Identity> verify(String token) {
        return Optional.ofNullable(byHash.get(AgentTokens.sha256Hex(token)));
    }
}
