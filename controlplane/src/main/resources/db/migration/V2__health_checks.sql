-- Target health checks, per listener as an NLB's target group has them, and how a service
-- spreads connections over its targets. Existing rows get the defaults; a check's path and
-- matcher are null for tcp and tls checks.
alter table service_listeners add column health_protocol varchar(8) not null default 'tcp';
alter table service_listeners add column health_path varchar(1024);
alter table service_listeners add column health_matcher varchar(128);
alter table service_listeners add column health_interval_seconds integer not null default 10;
alter table service_listeners add column health_timeout_seconds integer not null default 5;
alter table service_listeners add column health_healthy_threshold integer not null default 3;
alter table service_listeners add column health_unhealthy_threshold integer not null default 2;

-- leastOutstanding or roundRobin; failOpen (use every target) or failClosed (refuse connections).
alter table services add column load_balancing varchar(32) not null default 'leastOutstanding';
alter table services add column when_all_unhealthy varchar(32) not null default 'failOpen';
