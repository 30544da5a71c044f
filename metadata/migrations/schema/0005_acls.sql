-- ACLs: the authorizer's bindings (a resource pattern, a principal, a host, an operation, allow or
-- deny), their enums stored as Kafka's codes; and a version every change bumps, so that brokers
-- poll one row to learn their cached bindings are stale.

CREATE TABLE acls (
    resource_type INTEGER NOT NULL,  -- 2 topic, 3 group, 4 cluster, 5 transactional id
    resource_name TEXT NOT NULL,
    pattern_type INTEGER NOT NULL,  -- 3 literal, 4 prefixed
    principal TEXT NOT NULL,  -- "User:<name>" or "User:*"
    host TEXT NOT NULL,  -- an address or "*"
    operation INTEGER NOT NULL,  -- 2 all, 3 read, ... 12 idempotent write
    permission_type INTEGER NOT NULL,  -- 2 deny, 3 allow
    PRIMARY KEY (resource_type, resource_name, pattern_type, principal, host, operation, permission_type)
){without_rowid};

CREATE TABLE acls_version (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    version {bigint} NOT NULL
);

INSERT INTO acls_version (id, version) VALUES (0, 0);
