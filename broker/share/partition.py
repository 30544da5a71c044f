"""One share-partition (a share group's view of one topic partition): which records are in flight.

Records below `start_offset` are done (acknowledged or archived). From there to `end_offset` is the
in-flight window: each record in it is available, acquired by one member under a lock until a
deadline, acknowledged, or archived, with the number of times it was delivered. Records from
`end_offset` on have never been delivered. Acquiring takes available records (an expired lock first
makes its record available again, as RELEASE does); a record released after `delivery_limit`
deliveries is archived instead. The window's start moves past every leading record that is done.

`document()` is the state the metadata store keeps: acquired records are written as available (a
lock does not outlive the broker holding it), so after a restart they are delivered again.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass


class RecordState(enum.IntEnum):
    AVAILABLE = 0
    ACQUIRED = 1
    ACKNOWLEDGED = 2
    ARCHIVED = 4


class AcknowledgeType(enum.IntEnum):
    """Kafka's acknowledge types in ShareFetch and ShareAcknowledge."""

    GAP = 0
    ACCEPT = 1
    RELEASE = 2
    REJECT = 3


class InvalidRecordStateError(Exception):
    """An acknowledgement of a record the member does not hold (Kafka's INVALID_RECORD_STATE)."""


@dataclass
class InFlight:
    state: RecordState = RecordState.AVAILABLE
    delivery_count: int = 0
    member_id: str = ""
    deadline_ms: int = 0


@dataclass(frozen=True)
class Acquired:
    """A run of consecutive offsets one fetch acquired, all delivered `delivery_count` times."""

    first_offset: int
    last_offset: int
    delivery_count: int


class SharePartition:
    def __init__(self, start_offset: int, delivery_limit: int = 5) -> None:
        self.delivery_limit = delivery_limit  # the group's share.delivery.count.limit
        self.start_offset = start_offset
        self.end_offset = start_offset
        self.records: dict[int, InFlight] = {}  # offsets in [start_offset, end_offset) with a state of note

    # -- state in the store ----------------------------------------------------------

    def document(self) -> str:
        noted = [
            [offset, int(RecordState.AVAILABLE if r.state is RecordState.ACQUIRED else r.state), r.delivery_count]
            for offset, r in sorted(self.records.items())
            if r.state is not RecordState.AVAILABLE or r.delivery_count
        ]
        return json.dumps({"start": self.start_offset, "end": self.end_offset, "records": noted})

    @classmethod
    def from_document(cls, document: str, delivery_limit: int) -> SharePartition:
        loaded = json.loads(document)
        partition = cls(loaded["start"], delivery_limit)
        partition.end_offset = loaded["end"]
        for offset, state, count in loaded["records"]:
            partition.records[offset] = InFlight(RecordState(state), count)
        return partition

    # -- delivery --------------------------------------------------------------------

    def first_available(self, now_ms: int, below: int) -> int | None:
        """The lowest offset a fetch could acquire now, below `below` (the high watermark or last stable offset)."""
        self.expire_locks(now_ms)
        for offset in range(self.start_offset, min(self.end_offset, below)):
            record = self.records.get(offset)
            if record is None or record.state is RecordState.AVAILABLE:
                return offset
        return max(self.end_offset, self.start_offset) if self.end_offset < below else None

    def acquire(
        self, member_id: str, first: int, last: int, max_records: int, now_ms: int, lock_ms: int
    ) -> list[Acquired]:
        """Acquire for the member the available records in first..last, at most `max_records`."""
        self.expire_locks(now_ms)
        runs: list[Acquired] = []
        taken = 0
        offset = max(first, self.start_offset)
        while offset <= last and taken < max_records:
            record = self.records.get(offset)
            if record is None:
                record = self.records[offset] = InFlight()
            if record.state is RecordState.AVAILABLE:
                record.state, record.member_id, record.deadline_ms = RecordState.ACQUIRED, member_id, now_ms + lock_ms
                record.delivery_count += 1
                taken += 1
                previous = runs[-1] if runs else None
                if previous and previous.last_offset == offset - 1 and previous.delivery_count == record.delivery_count:
                    runs[-1] = Acquired(previous.first_offset, offset, record.delivery_count)
                else:
                    runs.append(Acquired(offset, offset, record.delivery_count))
            offset += 1
        if runs:
            self.end_offset = max(self.end_offset, runs[-1].last_offset + 1)
        return runs

    def acknowledge(
        self, member_id: str, first: int, last: int, types: list[int], now_ms: int
    ) -> dict[RecordState, int]:
        """Apply one acknowledgement batch (one type for the range, or one per offset); counts what changed.

        Raises InvalidRecordStateError, changing nothing, when any record is not the member's to acknowledge
        (a record whose lock expired is not: it is available again, or another member's).
        """
        self.expire_locks(now_ms)
        if not types or (len(types) != 1 and len(types) != last - first + 1) or last < first:
            raise InvalidRecordStateError("Acknowledgement batch is malformed.")
        if any(t not in AcknowledgeType._value2member_map_ for t in types):
            raise InvalidRecordStateError(f"Unknown acknowledge type in {types}.")
        for offset in range(first, last + 1):
            kind = types[0] if len(types) == 1 else types[offset - first]
            if kind == AcknowledgeType.GAP and offset < self.start_offset:
                continue
            record = self.records.get(offset)
            if record is None or record.state is not RecordState.ACQUIRED or record.member_id != member_id:
                raise InvalidRecordStateError(f"Offset {offset} is not acquired by member {member_id}.")
        changed: dict[RecordState, int] = {}
        for offset in range(first, last + 1):
            record = self.records.get(offset)
            if record is None:
                continue
            kind = AcknowledgeType(types[0] if len(types) == 1 else types[offset - first])
            if kind is AcknowledgeType.ACCEPT:
                record.state = RecordState.ACKNOWLEDGED
            elif kind is AcknowledgeType.RELEASE:
                self._release(record)
            else:
                record.state = RecordState.ARCHIVED
            record.member_id = ""
            changed[record.state] = changed.get(record.state, 0) + 1
        self._advance_start()
        return changed

    def archive(self, first: int, last: int) -> int:
        """Records no consumer gets (transaction markers, aborted records under read_committed): done unacquired."""
        archived = 0
        for offset in range(max(first, self.start_offset), last + 1):
            record = self.records.setdefault(offset, InFlight())
            if record.state is RecordState.AVAILABLE:
                record.state = RecordState.ARCHIVED
                archived += 1
        self.end_offset = max(self.end_offset, last + 1)
        self._advance_start()
        return archived

    def release_member(self, member_id: str) -> int:
        """A member left or its share session closed: its acquired records are available again."""
        released = 0
        for record in self._held_by(member_id):
            self._release(record)
            released += 1
        self._advance_start()
        return released

    def expire_locks(self, now_ms: int) -> int:
        """Records whose acquisition lock ran out are available again (archived past the delivery limit)."""
        expired = 0
        for record in self.records.values():
            if record.state is RecordState.ACQUIRED and record.deadline_ms <= now_ms:
                self._release(record)
                expired += 1
        if expired:
            self._advance_start()
        return expired

    def counts(self) -> dict[RecordState, int]:
        """Records in flight by state (never-delivered records of the window count as available)."""
        counts = dict.fromkeys(RecordState, 0)
        for record in self.records.values():
            counts[record.state] += 1
        counts[RecordState.AVAILABLE] += max(0, self.end_offset - self.start_offset - len(self.records))
        return counts

    def lag(self, high_watermark: int) -> int:
        """Records from the start offset to the high watermark not yet acknowledged or archived."""
        done = sum(1 for r in self.records.values() if r.state in (RecordState.ACKNOWLEDGED, RecordState.ARCHIVED))
        return max(high_watermark - self.start_offset - done, 0)

    def _held_by(self, member_id: str) -> Iterator[InFlight]:
        return (r for r in self.records.values() if r.state is RecordState.ACQUIRED and r.member_id == member_id)

    def _release(self, record: InFlight) -> None:
        archive = record.delivery_count >= self.delivery_limit
        record.state = RecordState.ARCHIVED if archive else RecordState.AVAILABLE
        record.member_id = ""

    def _advance_start(self) -> None:
        while self.start_offset < self.end_offset:
            record = self.records.get(self.start_offset)
            if record is None or record.state not in (RecordState.ACKNOWLEDGED, RecordState.ARCHIVED):
                return
            del self.records[self.start_offset]
            self.start_offset += 1
