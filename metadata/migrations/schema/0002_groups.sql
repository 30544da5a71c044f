-- Consumer groups: each group's generation record and its committed offsets.
-- Offsets are keyed by topic name, as clients commit them; deleting a topic drops its offsets.

CREATE TABLE consumer_groups (
    group_id TEXT PRIMARY KEY,
    protocol_type TEXT NOT NULL,  -- '' for a group that only commits offsets
    generation_id INTEGER NOT NULL,
    protocol_name TEXT,  -- NULL while no generation runs
    leader_id TEXT,
    state TEXT NOT NULL,
    updated_ms {bigint} NOT NULL
){without_rowid};

CREATE TABLE committed_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    committed_offset {bigint} NOT NULL,
    leader_epoch INTEGER NOT NULL,  -- -1: none given
    metadata TEXT NOT NULL,
    commit_ms {bigint} NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
){without_rowid};

-- delete_topic drops the offsets every group committed on the topic.
CREATE INDEX committed_offsets_topic ON committed_offsets (topic);
