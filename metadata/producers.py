"""Idempotent producers: the sequence checks of commit_flush, shared by every backend.

A producer's state on one partition is its epoch and its last five batches. Sequence numbers
wrap from 2**31 - 1 to 0, as in Kafka.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from streamhouse.metadata.base import AppendError

SEQUENCE_MODULUS = 2**31
RECENT_BATCHES = 5


@dataclass(frozen=True)
class RecentBatch:
    base_sequence: int
    last_sequence: int
    base_offset: int


@dataclass(frozen=True)
class ProducerState:
    """A producer's epoch and its latest batches on one partition, oldest first."""

    epoch: int
    batches: tuple[RecentBatch, ...]

    def to_json(self) -> str:
        return json.dumps([[b.base_sequence, b.last_sequence, b.base_offset] for b in self.batches])

    @classmethod
    def from_json(cls, epoch: int, text: str) -> ProducerState:
        return cls(epoch, tuple(RecentBatch(*batch) for batch in json.loads(text)))


@dataclass(frozen=True)
class SequenceCheck:
    """The verdict on an idempotent batch: append it (neither field set), refuse it, or answer a duplicate."""

    error_code: int = 0
    duplicate_offset: int | None = None  # the base offset the batch got the first time


def last_sequence(base_sequence: int, record_count: int) -> int:
    return (base_sequence + record_count - 1) % SEQUENCE_MODULUS


def check_sequence(state: ProducerState | None, epoch: int, base_sequence: int, record_count: int) -> SequenceCheck:
    """Judge a batch against the producer's state on its partition (None: the producer never wrote there)."""
    if state is not None and epoch < state.epoch:
        return SequenceCheck(AppendError.INVALID_PRODUCER_EPOCH)
    if state is None or epoch > state.epoch or not state.batches:  # no batches: a marker began this epoch
        return SequenceCheck() if base_sequence == 0 else SequenceCheck(AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)
    last = last_sequence(base_sequence, record_count)
    for batch in state.batches:
        if batch.base_sequence == base_sequence and batch.last_sequence == last:
            return SequenceCheck(duplicate_offset=batch.base_offset)
    expected = (state.batches[-1].last_sequence + 1) % SEQUENCE_MODULUS
    if base_sequence != expected:
        return SequenceCheck(AppendError.OUT_OF_ORDER_SEQUENCE_NUMBER)
    return SequenceCheck()


def appended(
    state: ProducerState | None, epoch: int, base_sequence: int, record_count: int, base_offset: int
) -> ProducerState:
    """The state after a batch that passed check_sequence was given base_offset."""
    batch = RecentBatch(base_sequence, last_sequence(base_sequence, record_count), base_offset)
    if state is None or epoch != state.epoch:
        return ProducerState(epoch, (batch,))
    return ProducerState(epoch, (*state.batches[-(RECENT_BATCHES - 1) :], batch))


def marked(state: ProducerState | None, epoch: int) -> ProducerState:
    """The state after a transaction marker of `epoch` (not older than the state's): a newer epoch
    fences the producer's older one, and its first batch must start at sequence 0."""
    if state is None or epoch > state.epoch:
        return ProducerState(epoch, ())
    return state
