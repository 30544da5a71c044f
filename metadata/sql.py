"""SQL that SQLite and PostgreSQL share, written once with `?` parameters.

SQLite runs these as they are; PostgreSQL runs `numbered(statement)`, whose parameters are
$1, $2, ... in the same order. Statements whose dialects differ (times from the server's clock,
PostgreSQL's arrays and row locks, collations) stay with their backend.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from streamhouse.metadata.base import (
    BrokerInfo,
    CleanerCheckpoint,
    CommittedOffset,
    GroupRecord,
    IndexEntry,
    ScramCredential,
    parse_listeners,
)

TOPIC_COLUMNS = "topic_id, name, partitions, configs"
INDEX_COLUMNS = "base_offset, last_offset, object_key, position, length, max_timestamp"
GROUP_COLUMNS = "group_id, protocol_type, generation_id, protocol_name, leader_id, state"
OFFSET_COLUMNS = "topic, partition, committed_offset, leader_epoch, metadata, commit_ms"

# -- topics
TOPIC_BY_NAME = f"SELECT {TOPIC_COLUMNS} FROM topics WHERE name = ?"
TOPIC_BY_ID = f"SELECT {TOPIC_COLUMNS} FROM topics WHERE topic_id = ?"
SET_PARTITION_COUNT = "UPDATE topics SET partitions = ? WHERE topic_id = ?"
# A deleted topic's rows, table by table (its committed offsets are keyed by name: DELETE_TOPIC_OFFSETS).
DELETE_TOPIC_ROWS = [
    f"DELETE FROM {table} WHERE topic_id = ?"
    for table in (
        "batch_index",
        "producer_state",
        "open_transactions",
        "aborted_transactions",
        "log_cleaner",
        "partitions",
        "topics",
    )
]
DELETE_TOPIC_OFFSETS = "DELETE FROM committed_offsets WHERE topic = ?"

# -- the log
PARTITION_STATES = "SELECT log_start_offset, high_watermark FROM partitions WHERE topic_id = ? ORDER BY partition"
PARTITION_STATE = "SELECT log_start_offset, high_watermark FROM partitions WHERE topic_id = ? AND partition = ?"
PARTITION_SIZES = "SELECT partition, sum(length) FROM batch_index WHERE topic_id = ? GROUP BY partition"
INSERT_INDEX = f"INSERT INTO batch_index (topic_id, partition, {INDEX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
SET_HIGH_WATERMARK = "UPDATE partitions SET high_watermark = ? WHERE topic_id = ? AND partition = ?"
SAVE_PRODUCER_STATE = (
    "INSERT INTO producer_state (topic_id, partition, producer_id, producer_epoch, recent_batches)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic_id, partition, producer_id) DO UPDATE"
    " SET producer_epoch = excluded.producer_epoch, recent_batches = excluded.recent_batches"
)
OPEN_TRANSACTION = (
    "INSERT INTO open_transactions (topic_id, partition, producer_id, first_offset) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (topic_id, partition, producer_id) DO UPDATE SET first_offset = excluded.first_offset"
)
CLOSE_TRANSACTION = "DELETE FROM open_transactions WHERE topic_id = ? AND partition = ? AND producer_id = ?"
RECORD_ABORTED = (
    "INSERT INTO aborted_transactions (topic_id, partition, producer_id, first_offset, last_offset)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
# Entries never overlap, so the one holding the offset is the last starting at or before it;
# starting the range there keeps the scan on the primary key. Parameters: find_index_arguments.
FIND_INDEX = (
    f"SELECT {INDEX_COLUMNS} FROM batch_index"
    " WHERE topic_id = ? AND partition = ? AND last_offset >= ?"
    " AND base_offset >= coalesce((SELECT max(base_offset) FROM batch_index"
    "   WHERE topic_id = ? AND partition = ? AND base_offset <= ?), ?)"
    " ORDER BY base_offset LIMIT ?"
)
FIND_BY_TIMESTAMP = (
    f"SELECT {INDEX_COLUMNS} FROM batch_index"
    " WHERE topic_id = ? AND partition = ? AND max_timestamp >= ? ORDER BY base_offset LIMIT 1"
)
SET_LOG_START = "UPDATE partitions SET log_start_offset = ? WHERE topic_id = ? AND partition = ?"
# base_offset < offset bounds the primary-key range; last_offset < offset is the rule.
DROP_INDEX_BELOW = (
    "DELETE FROM batch_index WHERE topic_id = ? AND partition = ? AND base_offset < ? AND last_offset < ?"
)
DROP_ABORTED_BELOW = "DELETE FROM aborted_transactions WHERE topic_id = ? AND partition = ? AND last_offset < ?"
UNREFERENCED_OBJECTS = (
    "SELECT object_key FROM objects AS o"
    " WHERE NOT EXISTS (SELECT 1 FROM batch_index AS b WHERE b.object_key = o.object_key)"
)  # the backend adds its ORDER BY (PostgreSQL: bytewise, as SQLite's)

# -- groups and offsets
COMMIT_OFFSET = (
    f"INSERT INTO committed_offsets (group_id, {OFFSET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (group_id, topic, partition) DO UPDATE"
    " SET committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch,"
    " metadata = excluded.metadata, commit_ms = excluded.commit_ms"
)
GROUP_OFFSETS = f"SELECT {OFFSET_COLUMNS} FROM committed_offsets WHERE group_id = ?"
DELETE_GROUP = (
    "DELETE FROM committed_offsets WHERE group_id = ?",
    "DELETE FROM consumer_groups WHERE group_id = ?",
    "DELETE FROM consumer_group_states WHERE group_id = ?",
)
SAVE_CONSUMER_GROUP = (
    "INSERT INTO consumer_group_states (group_id, state, updated_ms) VALUES (?, ?, ?)"
    " ON CONFLICT (group_id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms"
)
DELETE_CONSUMER_GROUP = "DELETE FROM consumer_group_states WHERE group_id = ?"
SAVE_SHARE_STATE = (
    "INSERT INTO share_partition_states (group_id, topic_id, partition_index, state, updated_ms) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (group_id, topic_id, partition_index) DO UPDATE SET state = excluded.state,"
    " updated_ms = excluded.updated_ms"
)
LIST_SHARE_STATES = (
    "SELECT group_id, topic_id, partition_index, state FROM share_partition_states"
    " WHERE group_id = ? ORDER BY topic_id, partition_index"
)
LIST_SHARE_GROUP_IDS = "SELECT DISTINCT group_id FROM share_partition_states ORDER BY group_id"
DELETE_SHARE_STATES = "DELETE FROM share_partition_states WHERE group_id = ?"
DELETE_SHARE_TOPIC_STATES = "DELETE FROM share_partition_states WHERE group_id = ? AND topic_id = ?"
SAVE_SHARE_GROUP_CONFIGS = (
    "INSERT INTO share_group_configs (group_id, configs, updated_ms) VALUES (?, ?, ?)"
    " ON CONFLICT (group_id) DO UPDATE SET configs = excluded.configs, updated_ms = excluded.updated_ms"
)
SHARE_GROUP_CONFIGS = "SELECT configs FROM share_group_configs WHERE group_id = ?"

# -- transactions and brokers
ALLOCATE_PRODUCER_ID = "UPDATE producer_ids SET next_id = next_id + 1 RETURNING next_id - 1"
DELETE_TRANSACTION = "DELETE FROM transactions WHERE transactional_id = ? AND version = ?"
DEREGISTER_BROKER = "DELETE FROM brokers WHERE broker_id = ? AND host = ? AND port = ?"
# A registration's update of an existing row (the heartbeat's time comes from each backend's clock).
REREGISTER_BROKER = (
    "host = excluded.host, port = excluded.port, listeners = excluded.listeners, heartbeat_ms = excluded.heartbeat_ms"
)

_PARAMETER = re.compile(r"\?")


@functools.cache
def numbered(statement: str) -> str:
    """A statement's `?` parameters as PostgreSQL's $1, $2, ... (no statement here quotes a `?`); kept per statement."""
    counter = itertools.count(1)
    return _PARAMETER.sub(lambda _: f"${next(counter)}", statement)


def find_index_arguments(topic: object, partition: int, from_offset: int, limit: int) -> tuple[Any, ...]:
    """FIND_INDEX's parameters."""
    return (topic, partition, from_offset, topic, partition, from_offset, from_offset, limit)


def index_row(topic: object, partition: int, e: IndexEntry) -> tuple[Any, ...]:
    """INSERT_INDEX's parameters; `topic` is the topic id as the backend stores it."""
    return (topic, partition, e.base_offset, e.last_offset, e.object_key, e.position, e.length, e.max_timestamp)


def offset_row(group_id: str, o: CommittedOffset) -> tuple[Any, ...]:
    """COMMIT_OFFSET's parameters."""
    return (group_id, o.topic, o.partition, o.offset, o.leader_epoch, o.metadata, o.commit_time_ms)


def broker_info(broker_id: int, host: str, port: int, listeners: str) -> BrokerInfo:
    """A brokers row as a BrokerInfo (its listeners column: a comma list of NAME://host:port)."""
    return BrokerInfo(broker_id, host, port, parse_listeners(listeners))


def group_row(group: GroupRecord) -> tuple[Any, ...]:
    """A group record's values, in GROUP_COLUMNS order."""
    return dataclasses.astuple(group)


# -- users
SCRAM_CREDENTIAL_COLUMNS = "user_name, mechanism, salt, iterations, stored_key, server_key"
UPSERT_SCRAM_CREDENTIAL = (
    f"INSERT INTO scram_credentials ({SCRAM_CREDENTIAL_COLUMNS}, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (user_name, mechanism) DO UPDATE SET salt = excluded.salt, iterations = excluded.iterations,"
    " stored_key = excluded.stored_key, server_key = excluded.server_key, updated_ms = excluded.updated_ms"
)
DELETE_SCRAM_CREDENTIALS = "DELETE FROM scram_credentials WHERE user_name = ?"
DELETE_SCRAM_CREDENTIAL = "DELETE FROM scram_credentials WHERE user_name = ? AND mechanism = ?"
# Sorted in Python: PostgreSQL's collation would order names unlike SQLite's byte order.
LIST_SCRAM_CREDENTIALS = f"SELECT {SCRAM_CREDENTIAL_COLUMNS} FROM scram_credentials"


def scram_credential_row(credential: ScramCredential, updated_ms: int) -> tuple[Any, ...]:
    """UPSERT_SCRAM_CREDENTIAL's parameters: the byte strings in base64."""
    encode = base64.b64encode
    c = credential
    return (
        c.user,
        c.mechanism,
        encode(c.salt).decode(),
        c.iterations,
        encode(c.stored_key).decode(),
        encode(c.server_key).decode(),
        updated_ms,
    )


def scram_credentials_from(rows: Iterable[Any]) -> list[ScramCredential]:
    """LIST_SCRAM_CREDENTIALS's rows as credentials, by user then mechanism."""
    decode = base64.b64decode
    credentials = [
        ScramCredential(user, mechanism, decode(salt), iterations, decode(stored_key), decode(server_key))
        for user, mechanism, salt, iterations, stored_key, server_key in rows
    ]
    return sorted(credentials, key=lambda c: (c.user, c.mechanism))


def delete_scram_credentials(user: str, mechanism: str | None) -> tuple[str, tuple[str, ...]]:
    """The statement and parameters deleting a user's credential for `mechanism`, or all of them."""
    if mechanism is None:
        return DELETE_SCRAM_CREDENTIALS, (user,)
    return DELETE_SCRAM_CREDENTIAL, (user, mechanism)


# -- ACLs
ACL_COLUMNS = "resource_type, resource_name, pattern_type, principal, host, operation, permission_type"
LIST_ACLS = f"SELECT {ACL_COLUMNS} FROM acls"
ADD_ACL = f"INSERT INTO acls ({ACL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
DELETE_ACL = (
    "DELETE FROM acls WHERE resource_type = ? AND resource_name = ? AND pattern_type = ? AND principal = ?"
    " AND host = ? AND operation = ? AND permission_type = ?"
)
ACLS_VERSION = "SELECT version FROM acls_version WHERE id = 0"
BUMP_ACLS_VERSION = "UPDATE acls_version SET version = version + 1 WHERE id = 0"


# -- the log cleaner's lease and checkpoint
CLEANER_CHECKPOINT_COLUMNS = "first_dirty_offset, last_clean_ms, clean_times, tombstones_due_ms"
ACQUIRE_CLEANER_LEASE = (
    "INSERT INTO log_cleaner (topic_id, partition, holder, lease_expires_ms) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (topic_id, partition) DO UPDATE"
    " SET holder = excluded.holder, lease_expires_ms = excluded.lease_expires_ms"
    " WHERE log_cleaner.holder = excluded.holder OR log_cleaner.lease_expires_ms < ?"
    f" RETURNING {CLEANER_CHECKPOINT_COLUMNS}"
)
SAVE_CLEANER_CHECKPOINT = (
    "UPDATE log_cleaner SET first_dirty_offset = ?, last_clean_ms = ?, clean_times = ?, tombstones_due_ms = ?,"
    " lease_expires_ms = 0 WHERE topic_id = ? AND partition = ? AND holder = ? AND lease_expires_ms > 0"
)


def cleaner_checkpoint_from(row: Sequence[Any]) -> CleanerCheckpoint:
    first_dirty_offset, last_clean_ms, clean_times, tombstones_due_ms = row
    times = tuple((int(end), int(ms)) for end, ms in json.loads(clean_times))
    return CleanerCheckpoint(int(first_dirty_offset), int(last_clean_ms), times, int(tombstones_due_ms))


def cleaner_checkpoint_row(checkpoint: CleanerCheckpoint) -> tuple[int, int, str, int]:
    """SAVE_CLEANER_CHECKPOINT's first parameters."""
    times = json.dumps([list(pair) for pair in checkpoint.clean_times])
    return checkpoint.first_dirty_offset, checkpoint.last_clean_ms, times, checkpoint.tombstones_due_ms
