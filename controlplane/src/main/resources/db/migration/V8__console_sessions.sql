-- Web console sign-ins (ADR 26). The browser keeps a random session secret in an HttpOnly cookie; the
-- store keeps only its SHA-256, the API key the session acts as, and the CSRF token the console sends
-- back with every change. A session ends at sign-out, after a while without a request, at its maximum
-- age, or when its key is revoked or deleted (the key's row going takes the session with it).
create table console_sessions (
    id varchar(32) primary key,
    secret_sha256 char(64) not null unique,
    csrf varchar(64) not null,
    api_key_seq bigint not null references api_keys (seq) on delete cascade,
    created_at timestamp with time zone not null,
    last_seen_at timestamp with time zone not null,
    expires_at timestamp with time zone not null
);
