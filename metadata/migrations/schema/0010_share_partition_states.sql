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
