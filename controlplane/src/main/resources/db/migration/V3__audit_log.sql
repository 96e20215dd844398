-- The audit log (docs/adr/0014-audit-log.md): one hash chain per account. seq numbers an
-- account's records from 1; hash covers the record's fields and prev_hash, the hash of the
-- record before it. An event between two accounts (a consumer and a provider) is a record in
-- each chain, with the same id. Nothing in the code updates or deletes audit_events.
create table audit_events (
    account_seq bigint not null references accounts (seq),
    seq bigint not null,
    id varchar(32) not null,
    at timestamp with time zone not null,
    actor varchar(200) not null,
    action varchar(64) not null,
    target varchar(300) not null,
    outcome varchar(1000) not null,
    details varchar(4000) not null,
    prev_hash char(64) not null,
    hash char(64) not null,
    primary key (account_seq, seq)
);

create index audit_events_by_time on audit_events (account_seq, at);

-- The last record of each chain. Appends lock this row (select ... for update), which
-- serializes them per account; comparing it with the chain detects a truncated chain.
create table audit_heads (
    account_seq bigint primary key references accounts (seq),
    seq bigint not null,
    hash char(64) not null
);

insert into audit_heads (account_seq, seq, hash)
select seq, 0, '0000000000000000000000000000000000000000000000000000000000000000' from accounts;
