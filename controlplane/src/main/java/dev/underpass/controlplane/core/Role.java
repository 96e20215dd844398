package dev.underpass.controlplane.core;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * A user's role in its account, each including the one below it. Accounts marked operator
 * (the platform's own) also manage accounts: admins and owners write, the others read.
 */
public enum Role {
    VIEWER(EnumSet.of(
            Scope.SERVICES_READ,
            Scope.ENDPOINTS_READ,
            Scope.KEYS_READ,
            Scope.AGENT_TOKENS_READ,
            Scope.AGENT_IDENTITIES_READ,
            Scope.USERS_READ)),
    MEMBER(with(VIEWER, Scope.ENDPOINTS_WRITE, Scope.ENDPOINTS_CONNECT, Scope.KEYS_WRITE)),
    ADMIN(with(
            MEMBER,
            Scope.SERVICES_WRITE,
            Scope.CONNECTIONS_DECIDE,
            Scope.AGENT_TOKENS_WRITE,
            Scope.AGENT_IDENTITIES_WRITE,
            Scope.USERS_WRITE,
            Scope.AUDIT_READ)),
    OWNER(with(ADMIN));

    private final Set<Scope> scopes;

    Role(Set<Scope> scopes) {
        this.scopes = scopes;
    }

    private static Set<Scope> with(Role base, Scope... more) {
        EnumSet<Scope> s = EnumSet.copyOf(base.scopes);
        s.addAll(Set.of(more));
        return s;
    }

    /** The scopes this role grants in an account; {@code operator} adds account management. */
    public Set<Scope> scopes(boolean operator) {
        EnumSet<Scope> s = EnumSet.copyOf(scopes);
        if (operator) {
            s.add(Scope.ACCOUNTS_READ);
            if (atLeast(ADMIN)) {
                s.add(Scope.ACCOUNTS_WRITE);
            }
        }
        return s;
    }

    public boolean atLeast(Role other) {
        return compareTo(other) >= 0;
    }

    @JsonValue
    public String text() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static Role parse(String text) {
        for (Role r : values()) {
            if (r.text().equals(text)) {
                return r;
            }
        }
        throw Refused.invalid("unknown role '" + text + "' (expected one of: owner, admin, member, viewer)");
    }

    @Override
    public String toString() {
        return text();
    }
}
