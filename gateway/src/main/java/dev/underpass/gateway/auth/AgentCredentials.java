package dev.underpass.gateway.auth;

import dev.underpass.controlplane.credential.AgentTokens;
import java.net.SocketAddress;
import java.util.Objects;

/**
 * Checks the credential an agent presents when it opens its session: an agent token, or a JWT
 * from its environment with the agent identity it names (header {@code underpass-identity}).
 * The store keeps only SHA-256 hashes of tokens, so a leaked database does not leak working
 * tokens; a JWT needs the issuer's keys. Both wait on the store or the network, so checks run
 * off the event loop.
 */
public interface AgentCredentials {
    /**
     * Who a credential presented from {@code from} belongs to, or why it is refused.
     *
     * @param identity the {@code underpass-identity} header, or null when absent
     * @throws dev.underpass.controlplane.core.Refused 429 (with {@code retry-after}) instead of a refusal
     *         when too many failed attempts came from {@code from} or for the credential's principal (a
     *         correct credential is accepted whatever the counts say)
     */
    Check verify(String token, String identity, SocketAddress from);

    /**
     * The outcome of a check: the identity when accepted; else the status for the agent (401
     * refused, 503 cannot check now) and the reason, which names no secret and is both logged
     * and sent to the agent.
     */
    record Check(AgentTokens.Identity identity, int status, String reason) {
        public static Check accepted(AgentTokens.Identity identity) {
            return new Check(Objects.requireNonNull(identity, "identity"), 200, null);
        }

        static Check refused(String reason) {
            return new Check(null, 401, reason);
        }

        static Check unavailable(String reason) {
            return new Check(null, 503, reason);
        }

        public boolean accepted() {
            return identity != null;
        }
    }
}
