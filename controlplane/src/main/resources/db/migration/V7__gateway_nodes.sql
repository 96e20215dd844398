-- The nodes of one gateway that share this store (docs/cluster.md). Each node writes its row
-- every few seconds; a row whose heartbeat is older than the timeout is a node that is gone.
-- Times are the database's own clock, so that nodes never compare their clocks with each other.
create table gateway_nodes (
    id varchar(64) primary key,
    agent_address varchar(300) not null,
    api_address varchar(300) not null,
    version varchar(64) not null,
    started_at timestamp with time zone not null,
    heartbeat_at timestamp with time zone not null,
    draining boolean not null,
    sessions integer not null,
    serving varchar(1000000) not null
);
