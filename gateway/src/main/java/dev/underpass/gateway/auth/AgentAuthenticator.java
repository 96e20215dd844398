package dev.underpass.gateway.auth;

import dev.underpass.controlplane.core.Secrets;
import dev.underpass.controlplane.credential.AgentIdentities;
import dev.underpass.controlplane.credential.AgentTokens;
import dev.underpass.controlplane.credential.AuthFailures;
import dev.underpass.protocol.Protocol;
import java.net.SocketAddress;

/**
 * The gateway's {@link AgentCredentials}: an agent token ({@code upa_...}) is looked up in the
 * store; anything else is taken for a JWT, checked against the agent identity the agent names.
 * Both count their failures in the same {@link AuthFailures} limits: a token by its prefix, a
 * JWT by the identity it names (every JWT starts with the same characters), but only when its
 * signature verified; every failure counts by source. Every credential is checked, and a correct
 * one accepted whatever the counts say; a failure over the limits is answered 429.
 */
public final class AgentAuthenticator implements AgentCredentials {
    static final String TOKEN_NOT_RECOGNISED = "agent token not recognised: it is unknown, expired or was revoked";

    private final AgentTokens tokens;
    private final AgentIdentities identities;
    private final AgentJwtVerifier jwts;
    private final AuthFailures failures;

    public AgentAuthenticator(
            AgentTokens tokens, AgentIdentities identities, AgentJwtVerifier jwts, AuthFailures failures) {
        this.tokens = tokens;
        this.identities = identities;
        this.jwts = jwts;
        this.failures = failures;
    }

    @Override
    public Check verify(String token, String identity, SocketAddress from) {
        if (token.startsWith(Secrets.AGENT_TOKEN_PREFIX)) {
            return tokens.verify(token, from).map(Check::accepted).orElseGet(() -> Check.refused(TOKEN_NOT_RECOGNISED));
        }
        if (identity == null) {
            // Nothing was looked up: like a request without a credential, this does not count as a failure.
            return Check.refused("a credential that is not an agent token (upa_...) needs header "
                    + Protocol.HEADER_IDENTITY + ": wid-... naming the agent identity its OIDC token is for");
        }
        if (!AgentIdentities.wellFormedId(identity)) {
            count(from, null); // for the source only: the header names no identity (nor, say, a key's prefix)
            return Check.refused("header " + Protocol.HEADER_IDENTITY + " is not an agent identity id (expected: "
                    + AgentIdentities.ID_PREFIX + " and " + AgentIdentities.ID_HEX_CHARS + " hex digits)");
        }
        AgentJwtVerifier.Result result = jwts.check(token, identity);
        Check check = result.check();
        if (check.status() == 401) {
            // The id is not secret: a refusal counts against the identity only when the JWT really came from its
            // issuer (a misconfigured workload), else failures in its name would turn its agents' own into 429s.
            count(from, result.authentic() ? identity : null);
        } else if (check.accepted()) {
            identities.used(check.identity().tokenId());
        }
        return check;
    }

    /** Counts a failure of {@code principal} (or of the source only, when null); over the limits, throws the 429. */
    private void count(SocketAddress from, String principal) {
        failures.failed(from, principal, "agent session").ifPresent(over -> {
            throw over.exception();
        });
    }
}
