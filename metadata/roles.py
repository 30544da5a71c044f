"""The roles of the metadata store, one Protocol each (metadata.base.MetadataStore holds one of every role).

Each role owns a part of the schema: `topics` the topics and their configs; `log` the batch index,
the sequencer (commit_flush assigns offsets) with the idempotent producers' state, and the
objects the index references; `groups` the consumer groups and their committed offsets;
`transactions` the transactional ids and the partitions' open and aborted transactions as
readers see them; `cluster` the broker registry and the change feed. A backend implements every
role over one database: a role's writes are its own transactions, and a write that touches
another role's tables (delete_topic drops the topic's index rows and committed offsets;
save_transaction commits the transaction's offsets) does so within its own transaction.

A new role (users and ACLs, share-group state) is a Protocol here, an entry of ROLES, an
attribute of MetadataStore, and a class per backend that the backend's store makes in its
constructor beside the others, over the same database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol
from uuid import UUID

from streamhouse.metadata.base import (
    AclBinding,
    AppendResult,
    BrokerInfo,
    ChangeListener,
    ChunkAppend,
    CleanerCheckpoint,
    CommittedOffset,
    ConsumerGroupDocument,
    FlushCommit,
    GroupRecord,
    IndexEntry,
    PartitionState,
    PartitionTransactions,
    ScramCredential,
    SharePartitionDocument,
    TopicInfo,
    TransactionRecord,
)


class TopicStore(Protocol):
    """Topics, their partition counts and their explicitly set configs."""

    async def create_topic(self, name: str, partitions: int, configs: Mapping[str, str]) -> TopicInfo:
        """TopicExistsError if the name is taken."""
        ...

    async def get_topic(self, name: str) -> TopicInfo | None: ...

    async def get_topic_by_id(self, topic_id: UUID) -> TopicInfo | None: ...

    async def list_topics(self) -> list[TopicInfo]:
        """All topics, by name."""
        ...

    async def delete_topic(self, name: str) -> TopicInfo:
        """Remove the topic, its partitions, index rows, producer state and groups' offsets on it.

        UnknownTopicError if absent.
        """
        ...

    async def add_partitions(self, name: str, count: int) -> TopicInfo:
        """Grow to `count` partitions; InvalidPartitionsError unless count > current."""
        ...

    async def set_topic_configs(self, name: str, configs: Mapping[str, str]) -> TopicInfo:
        """Replace the explicitly set configs of a topic."""
        ...


class LogStore(Protocol):
    """The partitions' logs: their states, the batch index, the sequencer with producer state, and objects."""

    async def partition_states(self, topic_id: UUID) -> list[PartitionState]:
        """One state per partition, in partition order; empty for an unknown topic."""
        ...

    async def partition_sizes(self, topic_id: UUID) -> dict[int, int]:
        """Bytes stored per partition: the lengths of its index entries, summed (an entry straddling
        the log start counts whole); partitions without entries are absent."""
        ...

    async def commit_flush(
        self, object_key: str, object_size: int, chunks: Sequence[ChunkAppend]
    ) -> list[AppendResult]:
        """Record the object and give every chunk its offsets, in one transaction.

        Chunks of one partition get consecutive offsets in the order given, starting at the
        high watermark. Idempotent chunks (producer_id >= 0) are checked against the producer's
        last five batches on that partition: a retried batch is a duplicate answered with its
        first base offset and not indexed again; a newer epoch must start at sequence 0; an
        older epoch is INVALID_PRODUCER_EPOCH; any other gap is OUT_OF_ORDER_SEQUENCE_NUMBER.
        A transactional chunk opens its producer's transaction on the partition (its offset is
        the transaction's first) unless one is open; a marker closes it, an abort marker
        recording the aborted range; a marker of a newer epoch fences the producer's older one.
        Partition rows are locked in (topic id, partition) order so concurrent commits serialise.
        """
        ...

    async def commit_flushes(self, flushes: Sequence[FlushCommit]) -> list[list[AppendResult]]:
        """Commit several flushes in ONE transaction, each as commit_flush would after the ones before it.

        Group commit: one round trip and one durable write for all of them. Every partition the
        flushes touch is locked first, in (topic id, partition) order. Each flush's chunk results.
        """
        ...

    async def find_index(self, topic_id: UUID, partition: int, from_offset: int, limit: int) -> list[IndexEntry]:
        """Up to `limit` entries with last_offset >= from_offset, ascending."""
        ...

    async def find_by_timestamp(self, topic_id: UUID, partition: int, timestamp: int) -> IndexEntry | None:
        """The first entry (by offset) whose max_timestamp >= timestamp."""
        ...

    async def max_timestamp_entry(self, topic_id: UUID, partition: int) -> IndexEntry | None:
        """The entry holding the partition's largest timestamp (the earliest such entry)."""
        ...

    async def set_log_start_offset(self, topic_id: UUID, partition: int, offset: int) -> PartitionState:
        """Advance the log start (never back); drop index entries and aborted transactions wholly below it.

        OffsetOutOfRangeError if offset > high watermark; UnknownTopicError if no such partition.
        """
        ...

    async def replace_index(
        self,
        topic_id: UUID,
        partition: int,
        old: Sequence[IndexEntry],
        new: Sequence[IndexEntry],
        object_key: str,
        object_size: int,
        cleaned: bool = False,
    ) -> bool:
        """Swap index entries for ones covering the same offsets in a new object (compaction).

        `cleaned`: the log cleaner's swap, whose new entries cover only some of the old offsets
        (the records it kept); its change report says so. In one transaction: if every `old`
        entry still exists unchanged, delete them, insert `new` and record the object;
        otherwise change nothing and return False.
        """
        ...

    async def unreferenced_objects(self) -> list[str]:
        """Recorded objects that no index entry references any more."""
        ...

    async def forget_objects(self, keys: Sequence[str]) -> None:
        """Drop object records (after the objects were deleted from the object store)."""
        ...

    async def known_objects(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` that have an object record (a committed flush or segment not yet collected)."""
        ...


class GroupStore(Protocol):
    """Consumer groups' records and their committed offsets."""

    async def save_group(self, group: GroupRecord) -> None:
        """Insert or replace a group's record."""
        ...

    async def list_groups(self) -> list[GroupRecord]:
        """Every group's record, by group id."""
        ...

    async def delete_group(self, group_id: str) -> None:
        """Remove a group's record and every offset it committed, in one transaction."""
        ...

    async def commit_offsets(self, group_id: str, offsets: Sequence[CommittedOffset]) -> None:
        """Insert or replace a group's committed offsets, all in one transaction."""
        ...

    async def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None = None
    ) -> list[CommittedOffset]:
        """A group's committed offsets by topic and partition: those of `partitions`, or all when None.

        Partitions without a committed offset are left out.
        """
        ...

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> None:
        """Drop a group's committed offsets of these (topic, partition) pairs."""
        ...


class TransactionStore(Protocol):
    """Producer ids, transactional ids' records, and each partition's open and aborted transactions."""

    async def allocate_producer_id(self) -> int:
        """A producer id never handed out before, by any broker."""
        ...

    async def get_transaction(self, transactional_id: str) -> TransactionRecord | None: ...

    async def list_transactions(self) -> list[TransactionRecord]:
        """Every transactional id's record, by id."""
        ...

    async def save_transaction(
        self, record: TransactionRecord, offsets: Sequence[tuple[str, CommittedOffset]] = ()
    ) -> bool:
        """Insert (version 1) or replace (the stored version + 1) a record, and commit `offsets`
        (group id, offset) to their groups, in one transaction; False, changing nothing, when the
        stored version is not the one before `record`'s (another save came first).
        """
        ...

    async def partition_transactions(self, topic_id: UUID, partition: int) -> PartitionTransactions:
        """The partition's open transactions and the aborted ones commit_flush recorded."""
        ...

    async def delete_transaction(self, record: TransactionRecord) -> bool:
        """Forget a transactional id (transactional.id.expiration.ms); False, deleting nothing, when the
        stored record is no longer `record`'s version (another save came meanwhile)."""
        ...


class ClusterStore(Protocol):
    """The live brokers, and the feed of changes to partitions and topics."""

    async def register_broker(self, broker: BrokerInfo) -> None:
        """Insert or refresh this broker, with the heartbeat time set to now."""
        ...

    async def live_brokers(self, max_age_ms: int) -> list[BrokerInfo]:
        """Brokers whose heartbeat is at most max_age_ms old, by id."""
        ...

    async def deregister_broker(self, broker: BrokerInfo) -> None:
        """Remove this broker (a clean stop), unless its id was registered since with another address."""
        ...

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener` for every change to partitions and topics; returns the unsubscribe.

        Changes made through this store are reported (local=True) once their transaction
        committed, before the call that made them returns. Stores that several processes
        share also report other stores' changes (local=False) as they learn of them, and
        ChangesMissed when some may have been lost. Listeners run on the event loop and must
        not block.
        """
        ...


class UserStore(Protocol):
    """Users' SCRAM credentials (salt, iterations, stored key, server key), one per user and mechanism."""

    async def upsert_credential(self, credential: ScramCredential) -> None:
        """Insert or replace the credential of (credential.user, credential.mechanism)."""
        ...

    async def delete_credentials(self, user: str, mechanism: str | None = None) -> int:
        """Remove the user's credential for `mechanism`, or all of them (None); how many were removed."""
        ...

    async def list_credentials(self) -> list[ScramCredential]:
        """Every credential, by user then mechanism."""


class AclStore(Protocol):
    """The authorizer's ACL bindings, and a version that every change to them bumps."""

    async def add_acls(self, bindings: Sequence[AclBinding]) -> None:
        """Store these bindings; one stored already stays as it is."""
        ...

    async def delete_acls(self, bindings: Sequence[AclBinding]) -> None:
        """Remove these bindings; absent ones are ignored."""
        ...

    async def list_acls(self) -> list[AclBinding]:
        """Every binding, sorted."""
        ...

    async def acls_version(self) -> int:
        """A number that grows with every add or delete that changed the bindings, on any store of the database."""
        ...


class CleanerStore(Protocol):
    """The log cleaner's lease and checkpoint per partition: one cleaner per partition across brokers."""

    async def acquire_cleaner_lease(
        self, topic_id: UUID, partition: int, holder: int, now_ms: int, lease_ms: int
    ) -> CleanerCheckpoint | None:
        """Take or renew the lease to clean the partition until now_ms + lease_ms; None while another holds it."""
        ...

    async def save_cleaner_checkpoint(
        self, topic_id: UUID, partition: int, holder: int, checkpoint: CleanerCheckpoint
    ) -> bool:
        """Record a pass's checkpoint and release the lease; False when `holder` no longer held it (nothing is
        written). A lease outlives its pass only when its holder died: then it expires."""
        ...


class ConsumerGroupStore(Protocol):
    """The KIP-848 consumer groups' states, one document per group; their offsets are the groups role's."""

    async def save_consumer_group(self, document: ConsumerGroupDocument) -> None:
        """Store the group's state, replacing the one stored."""
        ...

    async def list_consumer_groups(self) -> list[ConsumerGroupDocument]:
        """Every stored group's state, by group id."""
        ...

    async def delete_consumer_group(self, group_id: str) -> None:
        """Forget the group's state (its offsets stay); an unknown group is ignored."""
        ...


class ShareStateStore(Protocol):
    """The KIP-932 share-partitions' states, one document per (share group, topic, partition)."""

    async def save_share_state(self, document: SharePartitionDocument) -> None:
        """Store the share-partition's state, replacing the one stored."""
        ...

    async def list_share_states(self, group_id: str) -> list[SharePartitionDocument]:
        """The group's stored share-partition states, by topic id and partition."""
        ...

    async def list_share_group_ids(self) -> list[str]:
        """Every group with a stored share-partition state, in order."""
        ...

    async def delete_share_states(self, group_id: str) -> None:
        """Forget every share-partition state of the group; an unknown group is ignored."""
        ...

    async def delete_share_topic_states(self, group_id: str, topic_id: UUID) -> None:
        """Forget the group's share-partition states of one topic."""
        ...

    async def save_share_group_configs(self, group_id: str, configs: Mapping[str, str]) -> None:
        """Replace the configs set on the share group (an empty mapping: none)."""
        ...

    async def share_group_configs(self, group_id: str) -> dict[str, str]:
        """The configs set on the share group ({} for a group never configured)."""
        ...


# Every role, by its attribute name on MetadataStore.
ROLES: Mapping[str, type] = {
    "topics": TopicStore,
    "log": LogStore,
    "groups": GroupStore,
    "transactions": TransactionStore,
    "cluster": ClusterStore,
    "users": UserStore,
    "acls": AclStore,
    "cleaner": CleanerStore,
    "consumer_groups": ConsumerGroupStore,
    "share_states": ShareStateStore,
}
