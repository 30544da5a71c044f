-- KIP-932 share groups: each share-partition's state (the start of its in-flight window, the
-- acknowledged, archived and redelivered records in it) as one JSON document the broker serving the
-- partition rewrites on every acknowledgement, so that a restarted broker, or another one, continues it.
CREATE TABLE share_partition_states (
    group_id TEXT NOT NULL,
    topic_id TEXT NOT NULL,
    partition_index INTEGER NOT NULL,
    state TEXT NOT NULL,
    updated_ms {bigint} NOT NULL,
    PRIMARY KEY (group_id, topic_id, partition_index)
){without_rowid};

-- The group configs a share group was given (IncrementalAlterConfigs on the GROUP resource), as a
-- JSON object of the configs set explicitly; the broker's defaults fill in the rest.
CREATE TABLE share_group_configs (
    group_id TEXT PRIMARY KEY,
    configs TEXT NOT NULL,
    updated_ms {bigint} NOT NULL
){without_rowid};
