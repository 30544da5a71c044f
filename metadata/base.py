"""The metadata store interface: its data types and the store made of roles (metadata.roles).

A store is a role per attribute (`topics`, `log`, `groups`, `transactions`, `cluster`) over one
database; users and ACLs (issue 11) and share-group state (issue 14) are to come as roles of
their own, plugged in as metadata.roles describes.

The store is the sequencer: `log.commit_flush` assigns offsets to the batches of one flushed
object in one transaction, so any broker may append to any partition. Consumer groups keep
their committed offsets and the group's generation record here, so both outlive a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol
from uuid import UUID

if TYPE_CHECKING:  # the roles' signatures use the types defined here
    from streamhouse.metadata.roles import (
        AclStore,
        CleanerStore,
        ClusterStore,
        ConsumerGroupStore,
        GroupStore,
        LogStore,
        ShareStateStore,
        TopicStore,
        TransactionStore,
        UserStore,
    )


class MetadataError(Exception):
    """Base of the errors a store raises for a request it refuses."""


class TopicExistsError(MetadataError):
    pass


class UnknownTopicError(MetadataError):
    pass


class InvalidPartitionsError(MetadataError):
    """A partition count that does not grow the topic."""


class OffsetOutOfRangeError(MetadataError):
    """An offset beyond the high watermark (DeleteRecords)."""


class MetadataUnavailableError(MetadataError):
    """The store could not be reached; the caller may retry later."""


# The values made for every batch on the produce path (PartitionState, ChunkAppend, AppendResult,
# IndexEntry, PartitionChange) are named tuples: immutable as frozen dataclasses are, and several
# times cheaper to make (docs/performance.md).


@dataclass(frozen=True)
class TopicInfo:
    topic_id: UUID
    name: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)  # only configs set explicitly


class PartitionState(NamedTuple):
    log_start_offset: int
    high_watermark: int


class ListenerAddress(NamedTuple):
    """Where clients reach a broker through one listener, written `NAME://host:port` as Kafka does."""

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        return f"{self.name}://{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> ListenerAddress:
        """`NAME://host:port` (an IPv6 host in brackets, an empty host for all interfaces); ValueError if not."""
        name, separator, address = text.strip().partition("://")
        host, colon, port = address.rpartition(":")
        if not separator or not colon or not name or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"not a listener NAME://host:port: {text!r}")
        return cls(name.upper(), host.removeprefix("[").removesuffix("]"), int(port))


def parse_listeners(text: str) -> tuple[ListenerAddress, ...]:
    """A comma list of `NAME://host:port` (an empty text: none)."""
    return tuple(ListenerAddress.parse(item) for item in text.split(",") if item.strip())


def format_listeners(listeners: Sequence[ListenerAddress]) -> str:
    return ",".join(map(str, listeners))


@dataclass(frozen=True)
class BrokerInfo:
    """A live broker: its id, its first listener's address, and every listener's address it advertises."""

    broker_id: int
    host: str
    port: int
    listeners: tuple[ListenerAddress, ...] = ()

    def address(self, listener: str) -> tuple[str, int]:
        """Where a client that connected through the listener named `listener` reaches this broker.

        A broker without a listener of that name (registered before listeners had names, or
        configured otherwise) is given at its first address.
        """
        for advertised in self.listeners:
            if advertised.name == listener:
                return advertised.host, advertised.port
        return self.host, self.port


class ChunkAppend(NamedTuple):
    """One record batch of a flushed object, to be given offsets."""

    topic_id: UUID
    partition: int
    position: int  # byte position in the object
    length: int
    record_count: int  # last offset delta + 1
    max_timestamp: int
    producer_id: int = -1  # -1: not idempotent
    producer_epoch: int = -1
    base_sequence: int = -1
    transactional: bool = False
    marker: int = -1  # a transaction marker (control batch): MARKER_ABORT or MARKER_COMMIT; -1: data


MARKER_ABORT = 0  # Kafka's control record types
MARKER_COMMIT = 1


@dataclass(frozen=True)
class FlushCommit:
    """One flushed object and its chunks, for commit_flushes."""

    object_key: str
    object_size: int
    chunks: Sequence[ChunkAppend]


class AppendError:
    """Why a chunk was refused; the values are Kafka error codes."""

    UNKNOWN_TOPIC_OR_PARTITION = 3
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    INVALID_PRODUCER_EPOCH = 47


class AppendResult(NamedTuple):
    base_offset: int  # -1 when refused
    log_start_offset: int
    error_code: int = 0  # 0 or one of AppendError
    duplicate: bool = False  # a retried batch: base_offset is the one it got the first time


class IndexEntry(NamedTuple):
    """A byte range of an object holding the batches with offsets base_offset..last_offset."""

    base_offset: int
    last_offset: int
    object_key: str
    position: int
    length: int
    max_timestamp: int


@dataclass(frozen=True)
class ConsumerGroupDocument:
    """A KIP-848 consumer group's state as its coordinator wrote it: a JSON document only the broker reads."""

    group_id: str
    state: str


@dataclass(frozen=True)
class SharePartitionDocument:
    """A share-partition's state as the broker serving it wrote it: a JSON document only the broker reads."""

    group_id: str
    topic_id: UUID
    partition: int
    state: str


@dataclass(frozen=True)
class GroupRecord:
    """What outlives a broker of a consumer group: its generation and the protocol it runs.

    Members are not kept: after a restart they rejoin, and the generation continues from here.
    """

    group_id: str
    protocol_type: str  # "" for a group that only commits offsets
    generation_id: int
    protocol_name: str | None  # None while no generation runs
    leader_id: str | None
    state: str  # Kafka's state name: Empty, PreparingRebalance, CompletingRebalance, Stable


@dataclass(frozen=True)
class CommittedOffset:
    """A group's committed position in one partition, as OffsetCommit gave it."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1  # -1: none given
    metadata: str = ""
    commit_time_ms: int = 0


@dataclass(frozen=True)
class TransactionRecord:
    """A transactional id's producer and its current transaction, kept by the transaction coordinator.

    `version` grows by one with every save: a save based on an older read is refused, so two
    brokers that both believe they coordinate the id cannot overwrite each other.
    """

    transactional_id: str
    producer_id: int
    producer_epoch: int
    state: str  # Kafka's state name: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort
    timeout_ms: int
    started_ms: int = 0  # when the ongoing transaction began; 0 without one
    updated_ms: int = 0
    partitions: tuple[tuple[str, int], ...] = ()  # (topic, partition) added to the transaction
    groups: tuple[str, ...] = ()  # groups added (AddOffsetsToTxn)
    pending_offsets: tuple[tuple[str, CommittedOffset], ...] = ()  # (group id, offset) committed on commit
    # The epoch the coordinator bumped away from to abort a timed-out transaction (-1: none): that
    # producer may still bump itself with InitProducerId (KIP-360), as Kafka's lastProducerEpoch.
    last_epoch: int = -1
    version: int = 1


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ACL: a resource pattern, who, from where, what, and whether allowed or denied.

    The enums are Kafka's codes (resource type, pattern type, operation, permission type), which
    the authorizer interprets; the store only keeps them.
    """

    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int


@dataclass(frozen=True)
class AbortedTransaction:
    """The offsets of an aborted transaction on one partition: its first batch to its abort marker."""

    producer_id: int
    first_offset: int
    last_offset: int


@dataclass(frozen=True)
class CleanerCheckpoint:
    """What the log cleaner keeps of a partition between passes (Kafka's cleaner checkpoint, and more)."""

    first_dirty_offset: int = 0  # offsets below it were cleaned at least once
    last_clean_ms: int = 0
    # (end offset, ms): the offsets below each end (and at or above the previous one) were first cleaned then.
    clean_times: tuple[tuple[int, int], ...] = ()
    tombstones_due_ms: int = 0  # when the earliest kept tombstone may be removed; 0 when none is kept


@dataclass(frozen=True)
class ScramCredential:
    """A user's SCRAM credential for one mechanism, in Kafka's stored form: never the password."""

    user: str
    mechanism: str  # "SCRAM-SHA-256" or "SCRAM-SHA-512"
    salt: bytes
    iterations: int
    stored_key: bytes  # H(ClientKey), RFC 5802
    server_key: bytes


@dataclass(frozen=True)
class PartitionTransactions:
    """A partition's open transactions (producer id, first offset) and aborted ones, by first offset."""

    open: tuple[tuple[int, int], ...] = ()
    aborted: tuple[AbortedTransaction, ...] = ()

    def last_stable_offset(self, high_watermark: int) -> int:
        """The first offset of the oldest open transaction, else the high watermark."""
        return min((first for _, first in self.open), default=high_watermark)


class PartitionChange(NamedTuple):
    """A partition's log changed: a commit, a move of its log start, or an index swap."""

    topic_id: UUID
    partition: int
    log_start_offset: int
    high_watermark: int
    index_rewritten: bool = False  # entries were swapped for others (compaction): cached ones are stale
    transactions: bool = False  # its open or aborted transactions changed: cached ones are stale
    local: bool = False  # made through the store that reports it (its caller knows already)
    cleaned: bool = False  # the log cleaner removed records: cached batches of the partition are stale


@dataclass(frozen=True)
class TopicChange:
    """A topic was created, deleted, grown or reconfigured."""

    topic_id: UUID
    name: str
    local: bool = False


@dataclass(frozen=True)
class ChangesMissed:
    """Changes may have gone unreported (the store lost its feed and got it back): every cache is stale."""


Change = PartitionChange | TopicChange | ChangesMissed
ChangeListener = Callable[[Change], None]


class MetadataStore(Protocol):
    """One database's metadata, a role per attribute (metadata.roles), and the database's life cycle.

    Callers reach a role's methods through its attribute: `store.topics.create_topic(...)`,
    `store.log.commit_flushes(...)`. Users and ACLs (issue 11) and share-group state (issue 14)
    will each be a role of their own, added as metadata.roles describes.
    """

    applied_migrations: list[int]  # the migration versions start() applied, ascending

    # The roles, read-only so a backend's store may hold its own classes of them.
    @property
    def topics(self) -> TopicStore: ...

    @property
    def log(self) -> LogStore: ...

    @property
    def groups(self) -> GroupStore: ...

    @property
    def transactions(self) -> TransactionStore: ...

    @property
    def cluster(self) -> ClusterStore: ...

    @property
    def users(self) -> UserStore: ...

    @property
    def acls(self) -> AclStore: ...

    @property
    def cleaner(self) -> CleanerStore: ...

    @property
    def consumer_groups(self) -> ConsumerGroupStore: ...

    @property
    def share_states(self) -> ShareStateStore: ...

    async def start(self) -> None:
        """Connect and apply pending migrations."""
        ...

    async def close(self) -> None: ...

    async def check(self) -> None:
        """Raise MetadataUnavailableError unless the store answers (readiness)."""
        ...
