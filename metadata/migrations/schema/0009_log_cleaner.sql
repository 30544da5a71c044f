-- The log cleaner's state per partition: which broker holds the lease to clean it (one cleaner per
-- partition across brokers) and until when, the first offset not yet cleaned (Kafka's cleaner
-- checkpoint), when it was last cleaned, and the times each range of offsets was first cleaned
-- (a JSON list of [end offset, ms]): a tombstone is kept delete.retention.ms after that time.
CREATE TABLE log_cleaner (
    topic_id {uuid} NOT NULL,
    partition INTEGER NOT NULL,
    holder INTEGER NOT NULL,
    lease_expires_ms {bigint} NOT NULL,  -- 0 once its holder's pass ended
    first_dirty_offset {bigint} NOT NULL DEFAULT 0,
    last_clean_ms {bigint} NOT NULL DEFAULT 0,
    clean_times TEXT NOT NULL DEFAULT '[]',
    tombstones_due_ms {bigint} NOT NULL DEFAULT 0,  -- when a kept tombstone may go (0: none kept)
    PRIMARY KEY (topic_id, partition)
){without_rowid};
