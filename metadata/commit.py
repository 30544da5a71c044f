"""The offset assignment of commit_flush, shared by every backend.

A backend reads the partitions and producer states a flush touches (in the sorted key order
given here, the lock order), lets `plan_commit` decide every chunk's fate, then writes the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from uuid import UUID

from streamhouse.metadata.base import (
    MARKER_ABORT,
    AbortedTransaction,
    AppendError,
    AppendResult,
    ChunkAppend,
    FlushCommit,
    IndexEntry,
    PartitionChange,
    PartitionState,
)
from streamhouse.metadata.producers import ProducerState, appended, check_sequence, marked

PartitionKey = tuple[UUID, int]  # (topic id, partition)
ProducerKey = tuple[UUID, int, int]  # (topic id, partition, producer id)


def partition_keys(chunks: Sequence[ChunkAppend]) -> list[PartitionKey]:
    """The partitions of a flush, in lock order."""
    return sorted({(chunk.topic_id, chunk.partition) for chunk in chunks})


def producer_keys(chunks: Sequence[ChunkAppend], partitions: Mapping[PartitionKey, object]) -> list[ProducerKey]:
    """The idempotent producers of a flush on existing partitions, in lock order."""
    return sorted(
        {
            (chunk.topic_id, chunk.partition, chunk.producer_id)
            for chunk in chunks
            if chunk.producer_id >= 0 and (chunk.topic_id, chunk.partition) in partitions
        }
    )


def group_chunks(flushes: Sequence[FlushCommit]) -> list[ChunkAppend]:
    """The chunks of a group of flushes, for the lock-order look-ups of all of them at once."""
    return [chunk for flush in flushes for chunk in flush.chunks]


def transaction_keys(chunks: Sequence[ChunkAppend], partitions: Mapping[PartitionKey, object]) -> list[ProducerKey]:
    """The producers of a flush's transactional chunks and markers on existing partitions, in lock order."""
    return sorted(
        {
            (chunk.topic_id, chunk.partition, chunk.producer_id)
            for chunk in chunks
            if (chunk.transactional or chunk.marker >= 0) and (chunk.topic_id, chunk.partition) in partitions
        }
    )


@dataclass
class CommitPlan:
    """What a flush (or a group of them) changes; the maps hold only changed partitions, producers and open
    transactions."""

    results: list[AppendResult] = field(default_factory=list)
    entries: list[tuple[UUID, int, IndexEntry]] = field(default_factory=list)
    partitions: dict[PartitionKey, PartitionState] = field(default_factory=dict)
    producers: dict[ProducerKey, ProducerState] = field(default_factory=dict)
    open_transactions: dict[ProducerKey, int | None] = field(default_factory=dict)  # first offset; None: closed
    aborted: list[tuple[UUID, int, AbortedTransaction]] = field(default_factory=list)

    def opened(self) -> list[tuple[ProducerKey, int]]:
        return sorted((key, first) for key, first in self.open_transactions.items() if first is not None)

    def closed(self) -> list[ProducerKey]:
        return sorted(key for key, first in self.open_transactions.items() if first is None)


def plan_commit(
    object_key: str,
    chunks: Sequence[ChunkAppend],
    partitions: Mapping[PartitionKey, PartitionState],
    producers: Mapping[ProducerKey, ProducerState],
    open_transactions: Mapping[ProducerKey, int] | None = None,
) -> CommitPlan:
    """Give each chunk, in order, its offsets or its refusal, against the states read.

    `open_transactions`: the first offsets of the open transactions of transaction_keys(chunks).
    """
    plan = CommitPlan()
    for chunk in chunks:
        key = (chunk.topic_id, chunk.partition)
        state = plan.partitions.get(key) or partitions.get(key)
        if state is None:
            plan.results.append(AppendResult(-1, 0, AppendError.UNKNOWN_TOPIC_OR_PARTITION))
            continue
        producer_key = (*key, chunk.producer_id)
        producer = plan.producers.get(producer_key) or producers.get(producer_key)
        if chunk.marker >= 0:
            if producer is not None and chunk.producer_epoch < producer.epoch:
                plan.results.append(AppendResult(-1, state.log_start_offset, AppendError.INVALID_PRODUCER_EPOCH))
                continue
            plan.producers[producer_key] = marked(producer, chunk.producer_epoch)
            _close_transaction(plan, chunk, producer_key, state.high_watermark, open_transactions or {})
        elif chunk.producer_id >= 0:
            verdict = check_sequence(producer, chunk.producer_epoch, chunk.base_sequence, chunk.record_count)
            if verdict.duplicate_offset is not None:
                plan.results.append(AppendResult(verdict.duplicate_offset, state.log_start_offset, duplicate=True))
                continue
            if verdict.error_code:
                plan.results.append(AppendResult(-1, state.log_start_offset, verdict.error_code))
                continue
            plan.producers[producer_key] = appended(
                producer, chunk.producer_epoch, chunk.base_sequence, chunk.record_count, state.high_watermark
            )
            if chunk.transactional and _first_offset(plan, producer_key, open_transactions or {}) is None:
                plan.open_transactions[producer_key] = state.high_watermark
        base_offset = state.high_watermark
        last_offset = base_offset + chunk.record_count - 1
        plan.partitions[key] = PartitionState(state.log_start_offset, last_offset + 1)
        plan.entries.append(
            (
                *key,
                IndexEntry(base_offset, last_offset, object_key, chunk.position, chunk.length, chunk.max_timestamp),
            )
        )
        plan.results.append(AppendResult(base_offset, state.log_start_offset))
    return plan


def plan_group(
    flushes: Sequence[FlushCommit],
    partitions: Mapping[PartitionKey, PartitionState],
    producers: Mapping[ProducerKey, ProducerState],
    open_transactions: Mapping[ProducerKey, int] | None = None,
) -> tuple[CommitPlan, list[list[AppendResult]]]:
    """Plan flushes in order, each against the states the ones before it left.

    Their joint plan (what to write), and each flush's chunk results. `open_transactions`: as for
    plan_commit, for the chunks of every flush.
    """
    joint = CommitPlan()
    results = []
    partition_states, producer_states = dict(partitions), dict(producers)  # as each flush leaves them
    open_states = dict(open_transactions or {})
    for flush in flushes:
        plan = plan_commit(flush.object_key, flush.chunks, partition_states, producer_states, open_states)
        joint.entries += plan.entries
        joint.partitions.update(plan.partitions)
        joint.producers.update(plan.producers)
        joint.open_transactions.update(plan.open_transactions)
        joint.aborted += plan.aborted
        partition_states.update(plan.partitions)
        producer_states.update(plan.producers)
        for key, first in plan.open_transactions.items():
            if first is None:
                open_states.pop(key, None)
            else:
                open_states[key] = first
        results.append(plan.results)
    return joint, results


def _first_offset(plan: CommitPlan, key: ProducerKey, stored: Mapping[ProducerKey, int]) -> int | None:
    """The first offset of the producer's open transaction on the partition, as of this point of the plan."""
    return plan.open_transactions[key] if key in plan.open_transactions else stored.get(key)


def _close_transaction(
    plan: CommitPlan, chunk: ChunkAppend, key: ProducerKey, marker_offset: int, stored: Mapping[ProducerKey, int]
) -> None:
    """A marker at marker_offset ends the producer's open transaction; an abort records its range."""
    first = _first_offset(plan, key, stored)
    if first is None:
        return  # a marker repeated by a coordinator that completes a transaction again
    plan.open_transactions[key] = None
    if chunk.marker == MARKER_ABORT:
        plan.aborted.append(
            (chunk.topic_id, chunk.partition, AbortedTransaction(chunk.producer_id, first, marker_offset))
        )


def index_span(entries: Sequence[IndexEntry]) -> list[tuple[int, int]]:
    """The offset ranges entries cover, contiguous neighbours merged."""
    spans: list[tuple[int, int]] = []
    for entry in sorted(entries, key=lambda e: e.base_offset):
        if spans and spans[-1][1] + 1 == entry.base_offset:
            spans[-1] = (spans[-1][0], entry.last_offset)
        else:
            spans.append((entry.base_offset, entry.last_offset))
    return spans


def check_replacement(old: Sequence[IndexEntry], new: Sequence[IndexEntry], cleaned: bool = False) -> None:
    """Compaction may only swap index entries for ones covering exactly the same offsets; the log
    cleaner, for ones within those offsets that do not overlap (the batches it kept)."""
    if cleaned:
        spans = index_span(old)
        ordered = sorted(new, key=lambda e: e.base_offset)
        overlapping = any(later.base_offset <= earlier.last_offset for earlier, later in pairwise(ordered))
        outside = any(not any(a <= e.base_offset and e.last_offset <= b for a, b in spans) for e in ordered)
        if overlapping or outside:
            raise ValueError(f"cleaned index entries {index_span(new)} overlap or leave the offsets {spans}")
        return
    if index_span(old) != index_span(new):
        raise ValueError(f"new index entries cover {index_span(new)}, not the offsets {index_span(old)} they replace")


def plan_changes(plan: CommitPlan) -> list[PartitionChange]:
    """The change reports of a committed plan, one per partition it advanced (local to the store)."""
    transactions = {(topic_id, partition) for topic_id, partition, _ in plan.open_transactions}
    return [
        PartitionChange(
            topic_id,
            partition,
            state.log_start_offset,
            state.high_watermark,
            transactions=(topic_id, partition) in transactions,
            local=True,
        )
        for (topic_id, partition), state in sorted(plan.partitions.items())
    ]
