"""The transaction coordinator (KIP-98): transactional ids, their producers, epochs and transactions.

Every transactional id has one record in the metadata store (TransactionRecord): its producer
id and epoch, the state of its transaction (Kafka's names), the partitions and groups added to
it and the offsets TxnOffsetCommit left pending. Brokers keep nothing of it between requests:
the coordinator of an id (rendezvous hashing over the live brokers) reads the record, checks
the request, and saves the record with its version bumped; a save that meets a newer version
(another broker acted meanwhile) is answered CONCURRENT_TRANSACTIONS, which clients retry.

Ending a transaction: the decision is saved first (PrepareCommit / PrepareAbort), together with
the pending offsets of a commit, so they become visible at the decision; then one marker per
partition goes through the partition log (its commit closes the transaction there and, for an
abort, records the aborted range); then the record is saved CompleteCommit / CompleteAbort.
A decision whose markers were not all written (a failed flush, a broker that died) is completed
again by the next request for the id or by the expiry pass; a repeated marker changes nothing.
The expiry pass also aborts transactions older than their timeout, bumping the epoch first so
that the producer that let it expire is fenced.

Transactions v2 (KIP-890 part 2), for clients that see the `transaction.version` feature at 2 in
ApiVersions: a produce adds its partition to the transaction itself (no AddPartitionsToTxn), and
every EndTxn (v5) ends with the epoch bumped, answered with the new producer id and epoch, so that
nothing the producer wrote before can join its next transaction. Older clients' transactional
batches are verified (KIP-890 part 1): their partition must already be in the ongoing transaction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from streamhouse.metadata.base import (
    MARKER_ABORT,
    MARKER_COMMIT,
    CommittedOffset,
    MetadataUnavailableError,
    TransactionRecord,
)
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import build_marker_batch, iter_batches
from streamhouse.storage.log import StorageError

if TYPE_CHECKING:
    from streamhouse.broker.topics import TopicCache
    from streamhouse.metadata.base import MetadataStore
    from streamhouse.storage.log import PartitionLog

log = logging.getLogger(__name__)

EMPTY = "Empty"
ONGOING = "Ongoing"
PREPARE_COMMIT = "PrepareCommit"
PREPARE_ABORT = "PrepareAbort"
COMPLETE_COMMIT = "CompleteCommit"
COMPLETE_ABORT = "CompleteAbort"
PREPARED = (PREPARE_COMMIT, PREPARE_ABORT)
ENDED = (EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT)  # no transaction under way
STATES = (EMPTY, ONGOING, PREPARE_COMMIT, PREPARE_ABORT, COMPLETE_COMMIT, COMPLETE_ABORT)
NO_PRODUCER_ID = -1
# Kafka gives a new producer id instead of bumping from here: the last epoch (32767) is
# reserved (TransactionMetadata.isProducerEpochExhausted).
EXHAUSTED_EPOCH = 2**15 - 2
# A decision left prepared this long with no request completing it is completed by the expiry pass.
STALLED_DECISION_MS = 5_000


Step = Callable[[], Awaitable[TransactionRecord]]


class _RefusedError(Exception):
    """A request answered with an error code."""

    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _joined(
    record: TransactionRecord, partitions: Sequence[tuple[str, int]], groups: Sequence[str]
) -> TransactionRecord:
    """The record with the partitions and groups in its transaction (one started if none is under way);
    the record itself when it has them all already (a retry)."""
    if record.state in PREPARED:
        raise _RefusedError(ErrorCode.CONCURRENT_TRANSACTIONS)
    if record.state != ONGOING:
        record = replace(record, state=ONGOING, started_ms=now_ms(), partitions=(), groups=(), pending_offsets=())
    elif set(partitions) <= set(record.partitions) and set(groups) <= set(record.groups):
        return record
    return replace(
        record,
        partitions=tuple(dict.fromkeys((*record.partitions, *partitions))),
        groups=tuple(dict.fromkeys((*record.groups, *groups))),
    )


def bumped(producer_id: int, epoch: int) -> tuple[int, int] | None:
    """The same producer id with the next epoch; None when the epoch is exhausted (a new id is due)."""
    return (producer_id, epoch + 1) if 0 <= epoch < EXHAUSTED_EPOCH else None


class TransactionCoordinator:
    """Transactional ids' records in the metadata store, and the markers that end transactions."""

    def __init__(
        self,
        metadata: MetadataStore,
        log: PartitionLog,
        topics: TopicCache,
        *,
        max_timeout_ms: int,
        owns: Callable[[str], bool],
        id_expiration_ms: int,
    ) -> None:
        self.metadata = metadata
        self.log = log
        self.topics = topics
        self.max_timeout_ms = max_timeout_ms
        self.id_expiration_ms = id_expiration_ms
        self.owns = owns  # whether this broker coordinates a transactional id
        self.active = True
        self._locks: dict[str, asyncio.Lock] = {}  # one per id with a request running or waiting
        self._lock_users: dict[str, int] = {}
        self._completing: set[str] = set()  # ids whose markers this broker is writing
        # The ongoing transactions as this broker last read or saved them: what the produce path's
        # verification trusts for the ids this broker coordinates, whose transactions end here.
        self._ongoing: dict[str, TransactionRecord] = {}

    # -- requests ---------------------------------------------------------------

    async def init_producer_id(
        self, transactional_id: str, timeout_ms: int, producer_id: int, epoch: int
    ) -> tuple[ErrorCode, int, int]:
        """InitProducerId with a transactional id: (error, producer id, epoch)."""
        if not 0 < timeout_ms <= self.max_timeout_ms:
            return ErrorCode.INVALID_TRANSACTION_TIMEOUT, NO_PRODUCER_ID, -1
        return await self._producer_answer(
            transactional_id, lambda: self._init(transactional_id, timeout_ms, producer_id, epoch)
        )

    async def add_partitions(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: Sequence[tuple[str, int]]
    ) -> ErrorCode:
        return await self._answer(
            transactional_id, lambda: self._add(transactional_id, producer_id, epoch, partitions, ())
        )

    async def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str) -> ErrorCode:
        return await self._answer(
            transactional_id, lambda: self._add(transactional_id, producer_id, epoch, (), (group_id,))
        )

    async def end_transaction(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> ErrorCode:
        return await self._answer(transactional_id, lambda: self._end(transactional_id, producer_id, epoch, commit))

    async def end_transaction_v2(
        self, transactional_id: str, producer_id: int, epoch: int, commit: bool
    ) -> tuple[ErrorCode, int, int]:
        """EndTxn v5: end the transaction and bump the epoch; (error, the new producer id and epoch)."""
        return await self._producer_answer(
            transactional_id, lambda: self._end_bumped(transactional_id, producer_id, epoch, commit)
        )

    async def join_by_produce(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: Sequence[tuple[str, int]], add: bool
    ) -> ErrorCode:
        """Transactional batches' partitions in their transaction: added by the produce (transactions v2),
        else checked to be in the ongoing transaction already; INVALID_TXN_STATE when one is not.

        Run by whichever broker takes the produce: the record's version keeps brokers apart.
        """

        async def step() -> TransactionRecord:
            if add:
                return await self._add(transactional_id, producer_id, epoch, partitions, ())
            record = await self._current(transactional_id, producer_id, epoch)
            if record.state != ONGOING or not set(partitions) <= set(record.partitions):
                raise _RefusedError(ErrorCode.INVALID_TXN_STATE)
            return record

        return await self._answer(transactional_id, step, owned=False)

    async def verify_partitions(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], ErrorCode]:
        """AddPartitionsToTxn v4+ verify-only: each partition's INVALID_TXN_STATE unless in the transaction."""
        try:
            record = await self._current(transactional_id, producer_id, epoch)
        except _RefusedError as refused:
            return dict.fromkeys(partitions, refused.error)
        except MetadataUnavailableError:
            return dict.fromkeys(partitions, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        ongoing = set(record.partitions) if record.state == ONGOING else set()
        return {key: ErrorCode.NONE if key in ongoing else ErrorCode.INVALID_TXN_STATE for key in partitions}

    async def commit_offsets(
        self,
        transactional_id: str,
        group_id: str,
        producer_id: int,
        epoch: int,
        offsets: Sequence[CommittedOffset],
        add_group: bool = False,
    ) -> ErrorCode:
        """TxnOffsetCommit: keep the offsets pending in the transaction; they are committed with it.
        With `add_group` (v5, transactions v2, no AddOffsetsToTxn before it) the group joins the
        transaction here; else it must have joined, or INVALID_TXN_STATE.

        Sent to the group's coordinator, which may not be the transaction's: the record's version
        keeps the two brokers' writes apart.
        """

        async def pend() -> TransactionRecord:
            record = await self._current(transactional_id, producer_id, epoch, ErrorCode.INVALID_PRODUCER_EPOCH)
            if add_group:
                record = _joined(record, (), (group_id,))
            elif record.state != ONGOING or group_id not in record.groups:
                raise _RefusedError(ErrorCode.INVALID_TXN_STATE)
            replaced = {(o.topic, o.partition) for o in offsets}
            kept = [
                (g, o) for g, o in record.pending_offsets if g != group_id or (o.topic, o.partition) not in replaced
            ]
            pending = (*kept, *((group_id, o) for o in offsets))
            return await self._save(replace(record, pending_offsets=pending))

        return await self._answer(transactional_id, pend, owned=False)

    async def next_producer(self, producer_id: int, epoch: int) -> tuple[int, int]:
        """The same producer id with the next epoch; a new id at epoch 0 for a new producer (-1, -1)
        or when the epochs are used up. Also InitProducerId without a transactional id."""
        return bumped(producer_id, epoch) or (await self.metadata.transactions.allocate_producer_id(), 0)

    async def pending_offsets(self, group_id: str) -> set[tuple[str, int]]:
        """The group's partitions whose offsets an ongoing transaction holds pending (OffsetFetch
        require_stable); read from the store, since any broker may coordinate the transaction."""
        return {
            (offset.topic, offset.partition)
            for record in await self.metadata.transactions.list_transactions()
            if record.state == ONGOING
            for group, offset in record.pending_offsets
            if group == group_id
        }

    # -- administration -------------------------------------------------------------

    async def describe(self, transactional_id: str) -> tuple[ErrorCode, TransactionRecord | None]:
        """DescribeTransactions: the id's record, if this broker coordinates it."""
        if not self.active or not self.owns(transactional_id):
            return ErrorCode.NOT_COORDINATOR, None
        try:
            record = await self.metadata.transactions.get_transaction(transactional_id)
        except MetadataUnavailableError:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, None
        if record is None:
            return ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, None
        return ErrorCode.NONE, record

    async def coordinated(self) -> list[TransactionRecord]:
        """ListTransactions: the records of the ids this broker coordinates (MetadataUnavailableError)."""
        return [
            record
            for record in await self.metadata.transactions.list_transactions()
            if self.owns(record.transactional_id)
        ]

    # -- the expiry pass -----------------------------------------------------------

    async def expire(self) -> None:
        """Abort this broker's transactions older than their timeout (epoch bumped: the producer is
        fenced), complete decisions left prepared, and forget the transactional ids without a
        transaction for transactional.id.expiration.ms (their producer starts over with InitProducerId)."""
        now = now_ms()
        for record in await self.metadata.transactions.list_transactions():
            tid = record.transactional_id
            if not self.owns(tid) or tid in self._completing:
                continue
            if record.state in ENDED and record.updated_ms + self.id_expiration_ms < now:
                self._ongoing.pop(tid, None)
                if await self.metadata.transactions.delete_transaction(record):
                    log.info("transactional id %s expired", tid)
                continue
            timed_out = record.state == ONGOING and record.started_ms + record.timeout_ms < now
            stalled = record.state in PREPARED and record.updated_ms + STALLED_DECISION_MS < now
            if timed_out or stalled:
                try:
                    await self._run(tid, functools.partial(self._expire_one, tid, now))
                except _RefusedError as refused:
                    log.info("transaction %s not expired now: %s", tid, refused.error.name)

    async def _expire_one(self, transactional_id: str, now: int) -> TransactionRecord:
        record = await self._load(transactional_id)
        if record.state == ONGOING and record.started_ms + record.timeout_ms < now:
            log.info("transaction %s (producer %d) timed out; aborting it", transactional_id, record.producer_id)
            return await self._abort_fenced(replace(record, last_epoch=record.producer_epoch))
        if record.state in PREPARED:
            return await self._complete(record)
        return record

    # -- steps --------------------------------------------------------------------

    async def _answer(self, transactional_id: str, step: Step, owned: bool = True) -> ErrorCode:
        try:
            await self._run(transactional_id, step, owned)
        except _RefusedError as refused:
            return refused.error
        return ErrorCode.NONE

    async def _producer_answer(self, transactional_id: str, step: Step) -> tuple[ErrorCode, int, int]:
        """(error, producer id, epoch) after the step: what InitProducerId and EndTxn v5 answer."""
        try:
            record = await self._run(transactional_id, step)
        except _RefusedError as refused:
            return refused.error, NO_PRODUCER_ID, -1
        return ErrorCode.NONE, record.producer_id, record.producer_epoch

    async def _run(self, transactional_id: str, step: Step, owned: bool = True) -> TransactionRecord:
        """Run one step for an id, alone on this broker; errors become _RefusedError."""
        if not self.active or (owned and not self.owns(transactional_id)):
            raise _RefusedError(ErrorCode.NOT_COORDINATOR)
        if transactional_id in self._completing:
            raise _RefusedError(ErrorCode.CONCURRENT_TRANSACTIONS)  # its markers are being written
        lock = self._locks.setdefault(transactional_id, asyncio.Lock())
        self._lock_users[transactional_id] = self._lock_users.get(transactional_id, 0) + 1
        try:
            async with lock:
                return await step()
        except MetadataUnavailableError as exc:
            log.warning("transaction %s: metadata store unavailable: %s", transactional_id, exc)
            raise _RefusedError(ErrorCode.COORDINATOR_NOT_AVAILABLE) from exc
        except StorageError as exc:
            log.warning("transaction %s: writing markers failed; the decision stands: %s", transactional_id, exc)
            raise _RefusedError(ErrorCode.CONCURRENT_TRANSACTIONS) from exc
        finally:
            self._lock_users[transactional_id] -= 1
            if not self._lock_users[transactional_id]:  # nobody holds or awaits it: forget it
                del self._lock_users[transactional_id], self._locks[transactional_id]

    async def _load(self, transactional_id: str) -> TransactionRecord:
        record = await self.metadata.transactions.get_transaction(transactional_id)
        if record is None:
            self._ongoing.pop(transactional_id, None)
            raise _RefusedError(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        self._remember(record)
        return record

    def _remember(self, record: TransactionRecord) -> None:
        if record.state == ONGOING:
            self._ongoing[record.transactional_id] = record
        else:
            self._ongoing.pop(record.transactional_id, None)

    def known_in_transaction(
        self, transactional_id: str, producer_id: int, epoch: int, partitions: Sequence[tuple[str, int]]
    ) -> bool:
        """Whether the partitions are in the producer's ongoing transaction as this broker, its
        coordinator, last saw it: then the produce path needs no metadata read to verify them."""
        record = self._ongoing.get(transactional_id)
        return (
            record is not None
            and self.owns(transactional_id)
            and (record.producer_id, record.producer_epoch) == (producer_id, epoch)
            and set(partitions) <= set(record.partitions)
        )

    async def _current(
        self, transactional_id: str, producer_id: int, epoch: int, fenced: ErrorCode = ErrorCode.PRODUCER_FENCED
    ) -> TransactionRecord:
        """The id's record, if the request's producer is its current one."""
        record = await self._load(transactional_id)
        if producer_id != record.producer_id:
            raise _RefusedError(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if epoch != record.producer_epoch:
            raise _RefusedError(fenced)
        return record

    async def _save(
        self, record: TransactionRecord, offsets: Sequence[tuple[str, CommittedOffset]] = ()
    ) -> TransactionRecord:
        saved = replace(record, version=record.version + 1, updated_ms=now_ms())
        if not await self.metadata.transactions.save_transaction(saved, offsets):
            self._ongoing.pop(record.transactional_id, None)
            raise _RefusedError(ErrorCode.CONCURRENT_TRANSACTIONS)  # another broker changed it meanwhile
        self._remember(saved)
        return saved

    async def _init(self, transactional_id: str, timeout_ms: int, producer_id: int, epoch: int) -> TransactionRecord:
        record = await self.metadata.transactions.get_transaction(transactional_id)
        if record is None:
            new_id = await self.metadata.transactions.allocate_producer_id()
            created = TransactionRecord(transactional_id, new_id, 0, EMPTY, timeout_ms, updated_ms=now_ms())
            if not await self.metadata.transactions.save_transaction(created):
                raise _RefusedError(ErrorCode.CONCURRENT_TRANSACTIONS)
            return created
        if producer_id != NO_PRODUCER_ID and producer_id != record.producer_id:
            raise _RefusedError(ErrorCode.PRODUCER_FENCED)
        if producer_id != NO_PRODUCER_ID and epoch not in (record.producer_epoch, record.last_epoch):
            # KIP-360: only the current producer may bump itself, or the one whose transaction timed out.
            raise _RefusedError(ErrorCode.PRODUCER_FENCED)
        if record.state in PREPARED:
            record = await self._complete(record)
        elif record.state == ONGOING:
            record = await self._abort_fenced(record)  # a new instance fences the old one
        next_id, next_epoch = await self.next_producer(record.producer_id, record.producer_epoch)
        return await self._save(
            replace(
                record,
                producer_id=next_id,
                producer_epoch=next_epoch,
                state=EMPTY,
                timeout_ms=timeout_ms,
                started_ms=0,
                partitions=(),
                groups=(),
                pending_offsets=(),
                last_epoch=-1,
            )
        )

    async def _add(
        self,
        transactional_id: str,
        producer_id: int,
        epoch: int,
        partitions: Sequence[tuple[str, int]],
        groups: Sequence[str],
    ) -> TransactionRecord:
        record = await self._current(transactional_id, producer_id, epoch)
        joined = _joined(record, partitions, groups)
        return record if joined is record else await self._save(joined)

    async def _end(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> TransactionRecord:
        record = await self._current(transactional_id, producer_id, epoch)
        decided = PREPARE_COMMIT if commit else PREPARE_ABORT
        completed = COMPLETE_COMMIT if commit else COMPLETE_ABORT
        if record.state == completed:
            return record  # a retry of the request that ended it
        if record.state == decided:
            return await self._complete(record)
        if record.state != ONGOING:
            raise _RefusedError(ErrorCode.INVALID_TXN_STATE)
        return await self._decide(record, commit)

    async def _end_bumped(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> TransactionRecord:
        """EndTxn v5. A retry of the request that ended the transaction (the epoch one below the record's)
        gets the same answer; an abort with nothing in the transaction still bumps the epoch, as Kafka's
        transactions v2 abort a transaction whose first produce failed."""
        record = await self._load(transactional_id)
        completed = COMPLETE_COMMIT if commit else COMPLETE_ABORT
        if (record.producer_id, record.producer_epoch - 1, record.state) == (producer_id, epoch, completed):
            return record
        record = await self._current(transactional_id, producer_id, epoch)
        if record.state == ONGOING:
            record = await self._decide(record, commit)
        elif record.state == (PREPARE_COMMIT if commit else PREPARE_ABORT):
            record = await self._complete(record)
        elif commit or record.state in PREPARED:
            raise _RefusedError(ErrorCode.INVALID_TXN_STATE)
        next_id, next_epoch = await self.next_producer(record.producer_id, record.producer_epoch)
        return await self._save(
            replace(record, producer_id=next_id, producer_epoch=next_epoch, state=completed, last_epoch=-1)
        )

    async def _decide(self, record: TransactionRecord, commit: bool) -> TransactionRecord:
        """Save the decision (a commit's pending offsets with it), then write the markers."""
        now = now_ms()
        offsets = [(group, replace(o, commit_time_ms=now)) for group, o in record.pending_offsets] if commit else []
        prepared = await self._save(replace(record, state=PREPARE_COMMIT if commit else PREPARE_ABORT), offsets)
        return await self._complete(prepared)

    async def _abort_fenced(self, record: TransactionRecord) -> TransactionRecord:
        """Abort an ongoing transaction under a bumped epoch, so its producer can write no more to it."""
        next_epoch = bumped(record.producer_id, record.producer_epoch)
        fenced = record if next_epoch is None else replace(record, producer_epoch=next_epoch[1])
        return await self._decide(fenced, commit=False)

    async def _complete(self, record: TransactionRecord) -> TransactionRecord:
        """Write a prepared decision's markers, then record the transaction complete."""
        commit = record.state == PREPARE_COMMIT
        self._completing.add(record.transactional_id)
        try:
            await self._write_markers(record, commit)
        finally:
            self._completing.discard(record.transactional_id)
        return await self._save(
            replace(
                record,
                state=COMPLETE_COMMIT if commit else COMPLETE_ABORT,
                started_ms=0,
                partitions=(),
                groups=(),
                pending_offsets=(),
            )
        )

    async def _write_markers(self, record: TransactionRecord, commit: bool) -> None:
        data = build_marker_batch(commit, record.producer_id, record.producer_epoch)
        header = next(iter(iter_batches(data)))[0]
        appends = []
        for name, partition in record.partitions:
            topic = await self.topics.get(name)
            if topic is None or not 0 <= partition < topic.partitions:
                continue  # deleted since: nothing of the transaction is left to mark
            marker = MARKER_COMMIT if commit else MARKER_ABORT
            appends.append(self.log.append(topic.topic_id, partition, data, header, marker))
        for result in await asyncio.gather(*appends):
            if result.error_code:
                log.warning(
                    "transaction %s: a marker was refused (error %d)", record.transactional_id, result.error_code
                )
