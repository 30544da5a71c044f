-- Transactions (KIP-98): each transactional id's producer, epoch and transaction, the open
-- transactions of each partition (their first offset: the last stable offset is the oldest)
-- and the aborted ranges that read_committed consumers skip.

CREATE TABLE transactions (
    transactional_id TEXT PRIMARY KEY,
    producer_id {bigint} NOT NULL,
    producer_epoch INTEGER NOT NULL,
    state TEXT NOT NULL,  -- Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort
    timeout_ms INTEGER NOT NULL,
    started_ms {bigint} NOT NULL,  -- when the ongoing transaction began; 0 without one
    updated_ms {bigint} NOT NULL,
    partitions {json} NOT NULL,  -- JSON [[topic, partition], ...]
    groups {json} NOT NULL,  -- JSON [group id, ...]
    pending_offsets {json} NOT NULL,  -- JSON [[group id, topic, partition, offset, leader epoch, metadata], ...]
    last_epoch INTEGER NOT NULL,  -- the epoch before a timeout's bump, -1: none (KIP-360)
    version {bigint} NOT NULL  -- bumped by every write: a write based on an older read is refused
){without_rowid};

CREATE TABLE open_transactions (
    topic_id {uuid} NOT NULL,
    partition INTEGER NOT NULL,
    producer_id {bigint} NOT NULL,
    first_offset {bigint} NOT NULL,
    PRIMARY KEY (topic_id, partition, producer_id)
){without_rowid};

CREATE TABLE aborted_transactions (
    topic_id {uuid} NOT NULL,
    partition INTEGER NOT NULL,
    first_offset {bigint} NOT NULL,
    last_offset {bigint} NOT NULL,  -- the abort marker's offset
    producer_id {bigint} NOT NULL,
    PRIMARY KEY (topic_id, partition, first_offset, producer_id)
){without_rowid};
