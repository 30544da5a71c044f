-- KIP-848 consumer groups: each group's whole state (epochs, members, their subscriptions, current and
-- target assignments) as one JSON document the coordinator rewrites on every change, so any broker
-- that takes the group over continues it. Committed offsets stay in committed_offsets.
CREATE TABLE consumer_group_states (
    group_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_ms {bigint} NOT NULL
){without_rowid};
