-- The initial schema: brokers, topics, partitions, the batch index, objects, producers.
-- Offsets, positions and timestamps are 64-bit; SQLite INTEGER holds them.

CREATE TABLE brokers (
    broker_id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);

CREATE TABLE topics (
    topic_id TEXT PRIMARY KEY,  -- UUID, 32 lowercase hex digits
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL CHECK (partitions > 0),
    configs TEXT NOT NULL,  -- JSON object of the configs set explicitly
    created_ms INTEGER NOT NULL
);

CREATE TABLE partitions (
    topic_id TEXT NOT NULL,
    partition INTEGER NOT NULL,
    log_start_offset INTEGER NOT NULL,
    high_watermark INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;

CREATE TABLE batch_index (
    topic_id TEXT NOT NULL,
    partition INTEGER NOT NULL,
    base_offset INTEGER NOT NULL,
    last_offset INTEGER NOT NULL,
    object_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    length INTEGER NOT NULL,
    max_timestamp INTEGER NOT NULL,
    PRIMARY KEY (topic_id, partition, base_offset)
) WITHOUT ROWID;

-- max_timestamp_entry and find_by_timestamp (ListOffsets).
CREATE INDEX batch_index_timestamp ON batch_index (topic_id, partition, max_timestamp);
-- unreferenced_objects (garbage collection).
CREATE INDEX batch_index_object ON batch_index (object_key);

CREATE TABLE objects (
    object_key TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE producer_state (
    topic_id TEXT NOT NULL,
    partition INTEGER NOT NULL,
    producer_id INTEGER NOT NULL,
    producer_epoch INTEGER NOT NULL,
    recent_batches TEXT NOT NULL,  -- JSON [[base_sequence, last_sequence, base_offset], ...], oldest first, at most 5
    PRIMARY KEY (topic_id, partition, producer_id)
) WITHOUT ROWID;

CREATE TABLE producer_ids (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    next_id INTEGER NOT NULL
);

INSERT INTO producer_ids (singleton, next_id) VALUES (0, 0);
