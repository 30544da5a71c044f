-- The initial schema: brokers, topics, partitions, the batch index, objects, producers.
-- Mirrors sqlite/0001_initial.sql with PostgreSQL types: offsets, positions, timestamps and
-- times in milliseconds are BIGINT; topic ids are UUID; JSON documents are JSONB.

CREATE TABLE brokers (
    broker_id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    heartbeat_ms BIGINT NOT NULL  -- the database server's clock, so brokers' clocks need not agree
);

CREATE TABLE topics (
    topic_id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL CHECK (partitions > 0),
    configs JSONB NOT NULL,  -- object of the configs set explicitly
    created_ms BIGINT NOT NULL
);

CREATE TABLE partitions (
    topic_id UUID NOT NULL,
    partition INTEGER NOT NULL,
    log_start_offset BIGINT NOT NULL,
    high_watermark BIGINT NOT NULL,
    PRIMARY KEY (topic_id, partition)
);

CREATE TABLE batch_index (
    topic_id UUID NOT NULL,
    partition INTEGER NOT NULL,
    base_offset BIGINT NOT NULL,
    last_offset BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    position BIGINT NOT NULL,
    length BIGINT NOT NULL,
    max_timestamp BIGINT NOT NULL,
    PRIMARY KEY (topic_id, partition, base_offset)
);

-- max_timestamp_entry and find_by_timestamp (ListOffsets).
CREATE INDEX batch_index_timestamp ON batch_index (topic_id, partition, max_timestamp);
-- unreferenced_objects (garbage collection).
CREATE INDEX batch_index_object ON batch_index (object_key);

CREATE TABLE objects (
    object_key TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE producer_state (
    topic_id UUID NOT NULL,
    partition INTEGER NOT NULL,
    producer_id BIGINT NOT NULL,
    producer_epoch INTEGER NOT NULL,
    recent_batches JSONB NOT NULL,  -- [[base_sequence, last_sequence, base_offset], ...], oldest first, at most 5
    PRIMARY KEY (topic_id, partition, producer_id)
);

CREATE TABLE producer_ids (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    next_id BIGINT NOT NULL
);

INSERT INTO producer_ids (singleton, next_id) VALUES (0, 0);
