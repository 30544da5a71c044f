-- The initial schema: brokers, topics, partitions, the batch index, objects, producers.
-- Offsets, positions, timestamps and times in milliseconds are 64-bit integers.

CREATE TABLE brokers (
    broker_id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    heartbeat_ms {bigint} NOT NULL  -- PostgreSQL: the server's clock, so brokers' clocks need not agree
);

CREATE TABLE topics (
    topic_id {uuid} PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL CHECK (partitions > 0),
    configs {json} NOT NULL,  -- object of the configs set explicitly
    created_ms {bigint} NOT NULL
);

CREATE TABLE partitions (
    topic_id {uuid} NOT NULL,
    partition INTEGER NOT NULL,
    log_start_offset {bigint} NOT NULL,
    high_watermark {bigint} NOT NULL,
    PRIMARY KEY (topic_id, partition)
){without_rowid};

CREATE TABLE batch_index (
    topic_id {uuid} NOT NULL,
    partition INTEGER NOT NULL,
    base_offset {bigint} NOT NULL,
    last_offset {bigint} NOT NULL,
    object_key TEXT NOT NULL,
    position {bigint} NOT NULL,
    length {bigint} NOT NULL,
    max_timestamp {bigint} NOT NULL,
    PRIMARY KEY (topic_id, partition, base_offset)
){without_rowid};

-- max_timestamp_entry and find_by_timestamp (ListOffsets).
CREATE INDEX batch_index_timestamp ON batch_index (topic_id, partition, max_timestamp);
-- unreferenced_objects (garbage collection).
CREATE INDEX batch_index_object ON batch_index (object_key);

CREATE TABLE objects (
    object_key TEXT PRIMARY KEY,
    size {bigint} NOT NULL,
    created_ms {bigint} NOT NULL
){without_rowid};

CREATE TABLE producer_state (
    topic_id {uuid} NOT NULL,
    partition INTEGER NOT NULL,
    producer_id {bigint} NOT NULL,
    producer_epoch INTEGER NOT NULL,
    recent_batches {json} NOT NULL,  -- [[base_sequence, last_sequence, base_offset], ...], oldest first, at most 5
    PRIMARY KEY (topic_id, partition, producer_id)
){without_rowid};

CREATE TABLE producer_ids (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    next_id {bigint} NOT NULL
);

INSERT INTO producer_ids (singleton, next_id) VALUES (0, 0);
