"""Committed offsets of groups: OffsetCommit, OffsetFetch and OffsetDelete, kept in the metadata store.

OffsetCommit v2-9: members commit with their generation and member id (checked as Kafka does);
a consumer that assigns partitions itself commits with generation -1 and no member id, to a
group without members. The metadata string and leader epoch are kept with the commit time;
v2-4's retention time is ignored (offsets do not expire). Per partition:
UNKNOWN_TOPIC_OR_PARTITION (3) for a topic or partition that does not exist and
OFFSET_METADATA_TOO_LARGE (12) for metadata above 4096 characters (Kafka's default
offset.metadata.max.bytes; TxnOffsetCommit too): neither is sent on, and a commit whose every
partition is refused stores nothing and creates no group; for the whole request
INVALID_GROUP_ID (24) for a group id above 255 characters (broker/groups/table.py),
ILLEGAL_GENERATION (22), UNKNOWN_MEMBER_ID (25), FENCED_INSTANCE_ID (82),
REBALANCE_IN_PROGRESS (27) before the member synced its new generation, and
COORDINATOR_NOT_AVAILABLE (15) when the metadata store cannot be reached. To a KIP-848 consumer
group the generation is the member epoch: UNKNOWN_MEMBER_ID (25), FENCED_MEMBER_EPOCH (110) for a
newer epoch than the member's, STALE_MEMBER_EPOCH (113) for an older one; epoch -1 commits only to
a group without members.

OffsetFetch v1-9: one group (v1-7) or several (v8+); the requested partitions, or every committed
one when topics is null (v2+). v9 names the asking consumer-protocol member: to a KIP-848 group, an
unknown one gets UNKNOWN_MEMBER_ID (25) and another epoch than its own STALE_MEMBER_EPOCH (113)
(member id null and epoch -1: no check). A partition without a commit gets offset -1 and no error.
With require_stable (v7+), a partition whose offset is pending in an ongoing transaction
(TxnOffsetCommit before the EndTxn) is answered UNSTABLE_OFFSET_COMMIT (88, retriable) and offset -1,
as Kafka, so that read_committed consumers do not start from an offset about to change. Group
errors go to the top-level error from v2 (v8: per group) and into each partition before.

OffsetDelete v0: drops a group's offsets of some partitions. GROUP_ID_NOT_FOUND (69) for an
unknown group, NON_EMPTY_GROUP (68) for a group with members that is not a consumer group, and
per partition GROUP_SUBSCRIBED_TO_TOPIC (86) for a topic the members subscribe to and
UNKNOWN_TOPIC_OR_PARTITION (3) for one that does not exist.

The three run one at a time per connection, in arrival order, as the listener runs every request
but Produce (broker/server.py): an OffsetFetch pipelined behind an OffsetCommit sees that commit.

All three answer NOT_COORDINATOR (16) while the broker is stopping and for a group another live
broker coordinates, and COORDINATOR_LOAD_IN_PROGRESS (14) before the group is loaded; a group id may be "".

With the ACL authorizer: OffsetCommit needs READ on the group (else every partition gets
GROUP_AUTHORIZATION_FAILED, 30) and READ on each topic (else its partitions get
TOPIC_AUTHORIZATION_FAILED, 29); OffsetFetch DESCRIBE on the group (the group error 30) and on each
asked topic (29 per partition; all committed partitions leave out the topics it may not DESCRIBE);
OffsetDelete DELETE on the group (top-level 30) and READ on each topic (29 per partition).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from streamhouse.broker.groups.offsets import OFFSET_METADATA_MAX_BYTES
from streamhouse.broker.metrics import UNKNOWN_LABEL
from streamhouse.broker.security.authorizer import Authorizer, Operation, ResourceType
from streamhouse.metadata.base import CommittedOffset, MetadataUnavailableError
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.offset_delete import OFFSET_DELETE
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponsePartition
from streamhouse.protocol.messages.offset_commit import OffsetCommitResponse as CommitResponse
from streamhouse.protocol.messages.offset_commit import OffsetCommitResponseTopic as CommitTopic
from streamhouse.protocol.messages.offset_delete import OffsetDeleteRequest, OffsetDeleteResponsePartition
from streamhouse.protocol.messages.offset_delete import OffsetDeleteResponse as DeleteResponse
from streamhouse.protocol.messages.offset_delete import OffsetDeleteResponseTopic as DeleteTopic
from streamhouse.protocol.messages.offset_fetch import (
    OffsetFetchRequest,
    OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions,
)
from streamhouse.protocol.messages.offset_fetch import OffsetFetchResponse as FetchResponse
from streamhouse.protocol.messages.offset_fetch import OffsetFetchResponseGroup as FetchGroup
from streamhouse.protocol.messages.offset_fetch import OffsetFetchResponseTopic as FetchTopic
from streamhouse.protocol.messages.offset_fetch import OffsetFetchResponseTopics as FetchGroupTopic

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.metrics import BrokerStats
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

NO_OFFSET = -1
NO_LEADER_EPOCH = -1

Partition = tuple[str, int]
Answer = TypeVar("Answer")
ResponseTopic = TypeVar("ResponseTopic")


class AskedOffset(Protocol):
    """A partition of an OffsetCommit or TxnOffsetCommit request: the fields both have."""

    partition_index: int
    committed_offset: int
    committed_leader_epoch: int
    committed_metadata: str | None


class AskedOffsets(Protocol):
    """A topic of an OffsetCommit or TxnOffsetCommit request."""

    name: str

    @property
    def partitions(self) -> Sequence[AskedOffset]: ...


class AskedPartitions(Protocol):
    """A topic of an OffsetFetch request: v1-7 and v8 give it under two struct names."""

    name: str
    partition_indexes: list[int]


async def existing_partitions(broker: Broker, topics: Iterable[tuple[str, Iterable[int]]]) -> dict[Partition, bool]:
    """Whether each (topic, partition) exists, in the order asked."""
    found: dict[Partition, bool] = {}
    for name, partitions in topics:
        topic = await broker.topics.get(name)
        for partition in partitions:
            found[(name, partition)] = topic is not None and 0 <= partition < topic.partitions
    return found


def by_topic(answers: Iterable[tuple[Partition, Answer]]) -> dict[str, list[tuple[int, Answer]]]:
    """(topic, partition) answers grouped by topic, both in the order given."""
    grouped: dict[str, list[tuple[int, Answer]]] = {}
    for (topic, partition), answer in answers:
        grouped.setdefault(topic, []).append((partition, answer))
    return grouped


class CommitRequest:
    """The partitions of an OffsetCommit or TxnOffsetCommit request: what each asks, which exist."""

    def __init__(self, asked: dict[Partition, AskedOffset], exists: dict[Partition, bool]) -> None:
        self.asked = asked
        self.exists = exists
        self.errors = {key: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION for key, known in exists.items() if not known}
        for key, wanted in asked.items():
            if key not in self.errors and len(wanted.committed_metadata or "") > OFFSET_METADATA_MAX_BYTES:
                self.errors[key] = ErrorCode.OFFSET_METADATA_TOO_LARGE
        # Only these are sent on: a commit refused whole stores nothing and creates no group.
        self.valid = [key for key in exists if key not in self.errors]

    @classmethod
    async def read(cls, broker: Broker, topics: Iterable[AskedOffsets]) -> CommitRequest:
        asked = {(topic.name, p.partition_index): p for topic in topics for p in topic.partitions}
        by_name: dict[str, list[int]] = {}
        for name, partition in asked:
            by_name.setdefault(name, []).append(partition)
        return cls(asked, await existing_partitions(broker, by_name.items()))

    def authorize(self, authorizer: Authorizer, connection: Connection, denied: ErrorCode) -> None:
        """Answer every partition `denied` (the group or transactional id was refused) if set, else
        those of each topic the principal may not READ with TOPIC_AUTHORIZATION_FAILED."""
        names = dict.fromkeys(topic for topic, _ in self.exists)
        errors = {name: denied or authorizer.topic_error(connection, Operation.READ, name) for name in names}
        self.errors.update((key, errors[key[0]]) for key in self.exists if errors[key[0]])
        self.valid = [key for key in self.valid if key not in self.errors]

    def offsets(self) -> list[CommittedOffset]:
        """The offsets asked for the partitions that exist."""
        return [
            CommittedOffset(
                topic,
                partition,
                wanted.committed_offset,
                wanted.committed_leader_epoch,
                wanted.committed_metadata or "",
            )
            for topic, partition in self.valid
            for wanted in [self.asked[(topic, partition)]]
        ]

    def response_topics(
        self, topic_class: Callable[..., ResponseTopic], partition_class: Callable[..., object]
    ) -> list[ResponseTopic]:
        """Each partition's error (NONE when accepted), by topic in the order asked."""
        return [
            topic_class(
                name=topic,
                partitions=[
                    partition_class(partition_index=partition, error_code=error) for partition, error in answers
                ],
            )
            for topic, answers in by_topic((key, self.errors.get(key, ErrorCode.NONE)) for key in self.exists).items()
        ]


# -- OffsetCommit ----------------------------------------------------------------


async def handle_offset_commit(
    broker: Broker, request: Request[OffsetCommitRequest], connection: Connection
) -> CommitResponse:
    body = request.body
    commit = await CommitRequest.read(broker, body.topics)
    authorizer = broker.authorizer
    commit.authorize(authorizer, connection, authorizer.group_error(connection, Operation.READ, body.group_id))
    if commit.valid and broker.metrics is not None:
        await broker.metrics.remember_commits(body.group_id, commit.valid)
    if commit.valid:
        results = await broker.coordinator.commit_offsets(
            body.group_id, body.generation_id_or_member_epoch, body.member_id, body.group_instance_id, commit.offsets()
        )
        commit.errors.update(zip(commit.valid, results, strict=True))
    if broker.metrics is not None:
        # A group is a label value only once it exists (a refused commit may name any group id).
        group = body.group_id if body.group_id in broker.coordinator.groups else UNKNOWN_LABEL
        _observe_commits(broker.metrics.stats, group, commit.errors, commit.asked)
    return CommitResponse(topics=commit.response_topics(CommitTopic, OffsetCommitResponsePartition))


def _observe_commits(
    stats: BrokerStats, group: str, errors: dict[Partition, ErrorCode], asked: dict[Partition, AskedOffset]
) -> None:
    for (topic, partition), wanted in asked.items():
        error = errors.get((topic, partition), ErrorCode.NONE)
        if error:
            stats.commit_failed(group, topic, error)
        else:
            stats.commit_succeeded(group, topic, partition, wanted.committed_offset)


# -- OffsetFetch -----------------------------------------------------------------


async def handle_offset_fetch(
    broker: Broker, request: Request[OffsetFetchRequest], connection: Connection
) -> FetchResponse:
    body, version = request.body, request.version
    if version >= 8:
        groups = []
        for wanted in body.groups:
            member = (wanted.member_id, wanted.member_epoch) if version >= 9 else None
            error, answers = await _fetch(
                broker, connection, wanted.group_id, wanted.topics, version, body.require_stable, member
            )
            topics = _topics(FetchGroupTopic, OffsetFetchResponsePartitions, answers)
            groups.append(FetchGroup(group_id=wanted.group_id, topics=topics, error_code=error))
        return FetchResponse(groups=groups)
    error, answers = await _fetch(broker, connection, body.group_id, body.topics, version, body.require_stable)
    return FetchResponse(topics=_topics(FetchTopic, OffsetFetchResponsePartition, answers), error_code=error)


async def _fetch(
    broker: Broker,
    connection: Connection,
    group_id: str,
    topics: Sequence[AskedPartitions] | None,
    version: int,
    require_stable: bool,
    member: tuple[str | None, int] | None = None,
) -> tuple[ErrorCode, list[tuple[Partition, tuple[CommittedOffset | None, ErrorCode]]]]:
    """The group error and, per partition, its committed offset (None: none) and error.

    `member` (v9+): the consumer-protocol member asking, checked against its group's epochs.
    """
    error, answers = await _fetch_committed(broker, connection, group_id, topics, version, member)
    if error or not require_stable:
        return error, answers
    try:
        pending = await broker.transactions.pending_offsets(group_id)
    except MetadataUnavailableError:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
    unstable = (None, ErrorCode.UNSTABLE_OFFSET_COMMIT)
    return error, [(key, unstable if key in pending and not answer[1] else answer) for key, answer in answers]


async def _fetch_committed(
    broker: Broker,
    connection: Connection,
    group_id: str,
    topics: Sequence[AskedPartitions] | None,
    version: int,
    member: tuple[str | None, int] | None,
) -> tuple[ErrorCode, list[tuple[Partition, tuple[CommittedOffset | None, ErrorCode]]]]:
    asked = None if topics is None else [(t.name, p) for t in topics for p in t.partition_indexes]
    authorizer = broker.authorizer
    error = authorizer.group_error(connection, Operation.DESCRIBE, group_id)
    found: Sequence[CommittedOffset] = ()
    if not error and member is not None:
        error = broker.consumer_groups.fetch_error(group_id, *member) or ErrorCode.NONE
    if not error:
        error, found = await broker.coordinator.fetch_offsets(group_id, asked)
    if error and version < 2:
        # v1 has no group error: each partition carries it.
        return ErrorCode.NONE, [(key, (None, error)) for key in asked or ()]
    if error:
        return error, []
    committed = {(o.topic, o.partition): o for o in found}
    if asked is None:  # every committed partition: those of topics the principal may not DESCRIBE left out
        keys = [key for key in committed if authorizer.may_describe(connection, ResourceType.TOPIC, key[0])]
        return ErrorCode.NONE, [(key, (committed[key], ErrorCode.NONE)) for key in keys]
    refused = {name: authorizer.topic_error(connection, Operation.DESCRIBE, name) for name, _ in asked}
    return ErrorCode.NONE, [
        (key, (None, refused[key[0]]) if refused[key[0]] else (committed.get(key), ErrorCode.NONE)) for key in asked
    ]


def _topics(
    topic_class: Callable[..., ResponseTopic],
    partition_class: Callable[..., object],
    answers: list[tuple[Partition, tuple[CommittedOffset | None, ErrorCode]]],
) -> list[ResponseTopic]:
    """The response topics of v1-7 or of a v8 group: the same fields under other struct names."""
    return [
        topic_class(
            name=topic,
            partitions=[
                partition_class(
                    partition_index=partition,
                    committed_offset=NO_OFFSET if offset is None else offset.offset,
                    committed_leader_epoch=NO_LEADER_EPOCH if offset is None else offset.leader_epoch,
                    metadata="" if offset is None else offset.metadata,
                    error_code=error,
                )
                for partition, (offset, error) in partitions
            ],
        )
        for topic, partitions in by_topic(answers).items()
    ]


# -- OffsetDelete ----------------------------------------------------------------


async def handle_offset_delete(
    broker: Broker, request: Request[OffsetDeleteRequest], connection: Connection
) -> DeleteResponse:
    body = request.body
    exists = await existing_partitions(
        broker, ((t.name, (p.partition_index for p in t.partitions)) for t in body.topics)
    )
    authorizer = broker.authorizer
    if denied := authorizer.group_error(connection, Operation.DELETE, body.group_id):
        return DeleteResponse(error_code=denied)
    refused = {t.name: authorizer.topic_error(connection, Operation.READ, t.name) for t in body.topics}
    errors = {key: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION for key, known in exists.items() if not known}
    errors.update((key, refused[key[0]]) for key in exists if refused[key[0]])  # a refusal first, as Kafka
    valid = [key for key, known in exists.items() if known and key not in errors]
    error, results = await broker.coordinator.delete_offsets(body.group_id, valid)
    if error:
        return DeleteResponse(error_code=error)
    errors.update(zip(valid, results, strict=True))
    return DeleteResponse(
        error_code=ErrorCode.NONE,
        topics=[
            DeleteTopic(
                name=topic,
                partitions=[
                    OffsetDeleteResponsePartition(partition_index=partition, error_code=error)
                    for partition, error in partitions
                ],
            )
            for topic, partitions in by_topic((key, errors[key]) for key in exists).items()
        ],
    )


HANDLES = {
    OFFSET_COMMIT.key: handle_offset_commit,
    OFFSET_FETCH.key: handle_offset_fetch,
    OFFSET_DELETE.key: handle_offset_delete,
}
