package dev.underpass.controlplane.core;

import java.util.Set;

/**
 * Who is calling: a user of an account, through one API key whose scopes narrow the user's role
 * (and whose expiry, when it has one, bounds the keys it creates).
 * Every control-plane operation takes one and works only inside its account.
 */
public record Principal(
        long accountSeq,
        String account,
        boolean operator,
        long userSeq,
        String user,
        Role role,
        Set<Scope> scopes,
        String keyId,
        java.time.Instant keyExpiresAt) {
    public Principal {
        scopes = Set.copyOf(scopes);
    }

    public boolean can(Scope scope) {
        return scopes.contains(scope);
    }

    /** Refuses with 403 unless this principal holds {@code scope}. */
    public void require(Scope scope) {
        if (!can(scope)) {
            throw Refused.forbidden("this operation needs scope " + scope + ", which key " + keyId + " of " + user
                    + " (role " + role + " in account " + account + ") does not have");
        }
    }

    /** How changes made by this principal are recorded. */
    public String actor() {
        return user + "@" + account + " (key " + keyId + ")";
    }
}
