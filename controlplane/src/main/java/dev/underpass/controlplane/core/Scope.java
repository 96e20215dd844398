package dev.underpass.controlplane.core;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Arrays;
import java.util.stream.Collectors;

/** What a principal may do: a role grants a set of scopes, and an API key may narrow them. */
public enum Scope {
    SERVICES_READ("services:read"),
    SERVICES_WRITE("services:write"),
    ENDPOINTS_READ("endpoints:read"),
    ENDPOINTS_WRITE("endpoints:write"),
    /** Use the account's endpoints through the forward proxy: what a CI runner's key needs. */
    ENDPOINTS_CONNECT("endpoints:connect"),
    CONNECTIONS_DECIDE("connections:decide"),
    KEYS_READ("keys:read"),
    KEYS_WRITE("keys:write"),
    AGENT_TOKENS_READ("agent-tokens:read"),
    AGENT_TOKENS_WRITE("agent-tokens:write"),
    AGENT_IDENTITIES_READ("agent-identities:read"),
    AGENT_IDENTITIES_WRITE("agent-identities:write"),
    USERS_READ("users:read"),
    USERS_WRITE("users:write"),
    AUDIT_READ("audit:read"),
    ACCOUNTS_READ("accounts:read"),
    ACCOUNTS_WRITE("accounts:write");

    private final String text;

    Scope(String text) {
        this.text = text;
    }

    @JsonValue
    public String text() {
        return text;
    }

    @JsonCreator
    public static Scope parse(String text) {
        for (Scope s : values()) {
            if (s.text.equals(text)) {
                return s;
            }
        }
        throw Refused.invalid("unknown scope '" + text + "' (expected one of: "
                + Arrays.stream(values()).map(Scope::text).collect(Collectors.joining(", ")) + ")");
    }

    @Override
    public String toString() {
        return text;
    }
}
