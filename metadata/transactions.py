"""Transaction records as table rows, shared by every backend.

A record is one row of the `transactions` table: scalar columns, then its partitions, groups
and pending offsets as JSON arrays (text for SQLite, jsonb for PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from streamhouse.metadata.base import AbortedTransaction, CommittedOffset, PartitionTransactions, TransactionRecord

TRANSACTION_COLUMNS = (
    "transactional_id, producer_id, producer_epoch, state, timeout_ms, started_ms, updated_ms,"
    " partitions, groups, pending_offsets, last_epoch, version"
)


def transaction_row(record: TransactionRecord) -> tuple[Any, ...]:
    """The column values of a record, in TRANSACTION_COLUMNS order."""
    return (
        record.transactional_id,
        record.producer_id,
        record.producer_epoch,
        record.state,
        record.timeout_ms,
        record.started_ms,
        record.updated_ms,
        json.dumps([list(partition) for partition in record.partitions]),
        json.dumps(list(record.groups)),
        json.dumps(
            [[group, o.topic, o.partition, o.offset, o.leader_epoch, o.metadata] for group, o in record.pending_offsets]
        ),
        record.last_epoch,
        record.version,
    )


def transaction_record(row: Any) -> TransactionRecord:
    """The record of a row read with TRANSACTION_COLUMNS."""
    offsets = json.loads(row[9])
    return TransactionRecord(
        transactional_id=row[0],
        producer_id=row[1],
        producer_epoch=row[2],
        state=row[3],
        timeout_ms=row[4],
        started_ms=row[5],
        updated_ms=row[6],
        partitions=tuple((topic, partition) for topic, partition in json.loads(row[7])),
        groups=tuple(json.loads(row[8])),
        pending_offsets=tuple(
            (group, CommittedOffset(topic, partition, offset, leader_epoch, metadata))
            for group, topic, partition, offset, leader_epoch, metadata in offsets
        ),
        last_epoch=row[10],
        version=row[11],
    )


# A partition's open and aborted transactions; {topic} and {partition} are the backend's parameters.
OPEN_TRANSACTIONS_QUERY = (
    "SELECT producer_id, first_offset FROM open_transactions"
    " WHERE topic_id = {topic} AND partition = {partition} ORDER BY first_offset"
)
ABORTED_TRANSACTIONS_QUERY = (
    "SELECT producer_id, first_offset, last_offset FROM aborted_transactions"
    " WHERE topic_id = {topic} AND partition = {partition} ORDER BY first_offset, producer_id"
)


def partition_transactions(opened: Iterable[Any], aborted: Iterable[Any]) -> PartitionTransactions:
    """A partition's transactions from the rows of OPEN_TRANSACTIONS_QUERY and ABORTED_TRANSACTIONS_QUERY."""
    return PartitionTransactions(
        tuple((row[0], row[1]) for row in opened), tuple(AbortedTransaction(*row) for row in aborted)
    )
