"""The admin APIs that translate Kafka's replica and quorum notions: handlers against a real Broker.

ElectLeaders, DescribeLogDirs, AlterReplicaLogDirs, DescribeQuorum, AlterPartitionReassignments,
ListPartitionReassignments, DescribeTopicPartitions, ListConfigResources, ListOffsets' tiered
queries, and manual replica assignments in CreateTopics and CreatePartitions. Each bad input is
checked for the Kafka error code it gets. A second live broker is registered by hand where a
test needs partitions that belong to another broker.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from streamhouse.broker.app import Broker
from streamhouse.metadata.base import BrokerInfo
from streamhouse.protocol.apis.alter_partition_reassignments import ALTER_PARTITION_REASSIGNMENTS
from streamhouse.protocol.apis.alter_replica_log_dirs import ALTER_REPLICA_LOG_DIRS
from streamhouse.protocol.apis.create_partitions import CREATE_PARTITIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.describe_log_dirs import DESCRIBE_LOG_DIRS
from streamhouse.protocol.apis.describe_quorum import DESCRIBE_QUORUM
from streamhouse.protocol.apis.describe_topic_partitions import DESCRIBE_TOPIC_PARTITIONS
from streamhouse.protocol.apis.elect_leaders import ELECT_LEADERS
from streamhouse.protocol.apis.list_config_resources import LIST_CONFIG_RESOURCES
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from streamhouse.protocol.apis.list_partition_reassignments import LIST_PARTITION_REASSIGNMENTS
from streamhouse.protocol.errors import ErrorCode
from tests.broker.test_admin_handlers import broker, call, creatable, create, create_body, grow_body, versions
from tests.metadata.contract import chunk

__all__ = ["broker"]  # the fixture, shared with the other admin handler tests

ZERO_UUID = UUID(int=0)


async def add_live_broker(broker: Broker, broker_id: int = 1) -> None:
    """Another broker heartbeating in the same metadata store, as this broker's next heartbeat sees it."""
    await broker.metadata.cluster.register_broker(BrokerInfo(broker_id, "127.0.0.1", 19000 + broker_id))
    await broker.refresh_cluster()
    assert broker.cluster.broker_ids == (0, broker_id)


def partition_of(broker: Broker, topic: str, count: int, owner: int) -> int:
    """A partition of the topic whose preferred broker is `owner`."""
    return next(index for index in range(count) if broker.cluster.partition_leader(topic, index) == owner)


# -- ElectLeaders ----------------------------------------------------------------


def elect_body(election_type: int, topics: dict[str, list[int]] | None) -> Any:
    Topic = ELECT_LEADERS.Request.TopicPartitions
    return ELECT_LEADERS.Request(
        election_type=election_type,
        topic_partitions=None
        if topics is None
        else [Topic(topic=name, partitions=partitions) for name, partitions in topics.items()],
        timeout_ms=5000,
    )


@pytest.mark.parametrize("version", versions(ELECT_LEADERS))
async def test_elect_leaders_is_never_needed(broker: Broker, version: int) -> None:
    await create(broker, "elected", 3)
    election_types = (0, 1) if version >= 1 else (0,)
    for election_type in election_types:
        body = elect_body(election_type, {"elected": [0, 1, 2, 3], "absent": [0]})
        response = await call(broker, ELECT_LEADERS, version, body)
        assert response.error_code == ErrorCode.NONE
        [elected, absent] = response.replica_election_results
        assert [(r.partition_id, r.error_code) for r in elected.partition_result] == [
            (0, ErrorCode.ELECTION_NOT_NEEDED),
            (1, ErrorCode.ELECTION_NOT_NEEDED),
            (2, ErrorCode.ELECTION_NOT_NEEDED),
            (3, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),  # no such partition
        ]
        assert [(r.partition_id, r.error_code) for r in absent.partition_result] == [
            (0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)  # no such topic
        ]


async def test_elect_leaders_for_every_partition_lists_none(broker: Broker) -> None:
    await create(broker, "all-elected", 2)
    response = await call(broker, ELECT_LEADERS, 2, elect_body(0, None))
    assert [(r.topic, r.partition_result) for r in response.replica_election_results] == [("all-elected", [])]


async def test_elect_leaders_unknown_election_type(broker: Broker) -> None:
    await create(broker, "typed", 1)
    response = await call(broker, ELECT_LEADERS, 2, elect_body(7, {"typed": [0]}))
    assert response.error_code == ErrorCode.INVALID_REQUEST
    [result] = response.replica_election_results[0].partition_result
    assert result.error_code == ErrorCode.INVALID_REQUEST
    assert "election type 7" in result.error_message


# -- DescribeLogDirs / AlterReplicaLogDirs ---------------------------------------


def log_dirs_body(topics: dict[str, list[int]] | None) -> Any:
    Topic = DESCRIBE_LOG_DIRS.Request.DescribableLogDirTopic
    return DESCRIBE_LOG_DIRS.Request(
        topics=None if topics is None else [Topic(topic=name, partitions=ids) for name, ids in topics.items()]
    )


@pytest.mark.parametrize("version", versions(DESCRIBE_LOG_DIRS))
async def test_describe_log_dirs_reports_the_object_store(broker: Broker, version: int) -> None:
    await create(broker, "logged", 2)
    response = await call(broker, DESCRIBE_LOG_DIRS, version, log_dirs_body(None))
    [result] = response.results
    assert (result.error_code, result.log_dir) == (ErrorCode.NONE, broker.config.storage_url)
    assert [(topic.name, [p.partition_index for p in topic.partitions]) for topic in result.topics] == [
        ("logged", [0, 1])
    ]
    assert all((p.partition_size, p.offset_lag, p.is_future_key) == (0, 0, False) for p in result.topics[0].partitions)
    stored = await broker.metadata.topics.get_topic("logged")
    assert stored is not None
    await broker.metadata.log.commit_flush("flush/sized", 1000, [chunk(stored, 1, 3, length=123)])  # index only
    [result] = (await call(broker, DESCRIBE_LOG_DIRS, version, log_dirs_body({"logged": [0, 1]}))).results
    assert [(p.partition_index, p.partition_size) for p in result.topics[0].partitions] == [(0, 0), (1, 123)]
    if version >= 4:
        assert (result.total_bytes, result.usable_bytes) == (-1, -1)


async def test_describe_log_dirs_leaves_out_what_this_broker_does_not_host(broker: Broker) -> None:
    await create(broker, "shared", 8)
    await add_live_broker(broker)
    mine = [index for index in range(8) if broker.cluster.partition_leader("shared", index) == 0]
    assert 0 < len(mine) < 8
    body = log_dirs_body({"shared": list(range(10)), "absent": [0]})  # 8, 9: no such partitions
    [result] = (await call(broker, DESCRIBE_LOG_DIRS, 4, body)).results
    assert [(topic.name, [p.partition_index for p in topic.partitions]) for topic in result.topics] == [
        ("shared", mine)
    ]


def alter_dirs_body(path: str, topics: dict[str, list[int]]) -> Any:
    Dir = ALTER_REPLICA_LOG_DIRS.Request.AlterReplicaLogDir
    return ALTER_REPLICA_LOG_DIRS.Request(
        dirs=[Dir(path=path, topics=[Dir.AlterReplicaLogDirTopic(name=n, partitions=p) for n, p in topics.items()])]
    )


@pytest.mark.parametrize("version", versions(ALTER_REPLICA_LOG_DIRS))
async def test_alter_replica_log_dirs(broker: Broker, version: int) -> None:
    await create(broker, "moved", 8)
    await add_live_broker(broker)
    mine, theirs = partition_of(broker, "moved", 8, 0), partition_of(broker, "moved", 8, 1)
    here = broker.config.storage_url
    body = alter_dirs_body(here, {"moved": [mine, theirs, 8], "absent": [0]})
    results = (await call(broker, ALTER_REPLICA_LOG_DIRS, version, body)).results
    assert [(r.topic_name, [(p.partition_index, p.error_code) for p in r.partitions]) for r in results] == [
        (
            "moved",
            [
                (mine, ErrorCode.NONE),  # already there: a no-op
                (theirs, ErrorCode.REPLICA_NOT_AVAILABLE),  # hosted by broker 1
                (8, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),  # no such partition
            ],
        ),
        ("absent", [(0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]),  # no such topic
    ]
    elsewhere = await call(broker, ALTER_REPLICA_LOG_DIRS, version, alter_dirs_body("/data/d2", {"moved": [mine]}))
    assert elsewhere.results[0].partitions[0].error_code == ErrorCode.LOG_DIR_NOT_FOUND  # not our one dir


# -- DescribeQuorum --------------------------------------------------------------


def quorum_body(topic: str = "__cluster_metadata", partitions: tuple[int, ...] = (0,)) -> Any:
    Topic = DESCRIBE_QUORUM.Request.TopicData
    return DESCRIBE_QUORUM.Request(
        topics=[Topic(topic_name=topic, partitions=[Topic.PartitionData(partition_index=p) for p in partitions])]
    )


@pytest.mark.parametrize("version", versions(DESCRIBE_QUORUM))
async def test_describe_quorum_lists_the_live_brokers_as_voters(broker: Broker, version: int) -> None:
    await add_live_broker(broker, 3)
    response = await call(broker, DESCRIBE_QUORUM, version, quorum_body())
    assert response.error_code == ErrorCode.NONE
    [topic] = response.topics
    [partition] = topic.partitions
    assert (topic.topic_name, partition.partition_index, partition.error_code) == ("__cluster_metadata", 0, 0)
    assert partition.leader_id == broker.cluster.controller_id == 0
    assert (partition.leader_epoch, partition.high_watermark) == (0, 0)
    assert [voter.replica_id for voter in partition.current_voters] == [0, 3]
    assert partition.observers == []
    if version >= 2:
        endpoints = [(node.node_id, [(e.name, e.host, e.port) for e in node.listeners]) for node in response.nodes]
        assert endpoints == [
            (0, [("PLAINTEXT", broker.info.host, broker.info.port)]),
            (3, [("PLAINTEXT", "127.0.0.1", 19003)]),
        ]


@pytest.mark.parametrize("body", [quorum_body("orders"), quorum_body(partitions=(1,)), quorum_body(partitions=(0, 1))])
async def test_describe_quorum_of_anything_else(broker: Broker, body: Any) -> None:
    response = await call(broker, DESCRIBE_QUORUM, 2, body)
    [topic] = response.topics
    assert [(p.partition_index, p.error_code) for p in topic.partitions] == [
        (p.partition_index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) for p in body.topics[0].partitions
    ]


# -- Alter/ListPartitionReassignments --------------------------------------------


def reassign_body(topics: dict[str, dict[int, list[int] | None]], allow_change: bool = True) -> Any:
    Topic = ALTER_PARTITION_REASSIGNMENTS.Request.ReassignableTopic
    return ALTER_PARTITION_REASSIGNMENTS.Request(
        timeout_ms=5000,
        allow_replication_factor_change=allow_change,
        topics=[
            Topic(
                name=name,
                partitions=[Topic.ReassignablePartition(partition_index=i, replicas=r) for i, r in partitions.items()],
            )
            for name, partitions in topics.items()
        ],
    )


@pytest.mark.parametrize("version", versions(ALTER_PARTITION_REASSIGNMENTS))
async def test_alter_partition_reassignments(broker: Broker, version: int) -> None:
    await create(broker, "placed", 8)
    await add_live_broker(broker)
    mine, theirs = partition_of(broker, "placed", 8, 0), partition_of(broker, "placed", 8, 1)
    body = reassign_body(
        {
            "placed": {
                mine: [0],  # where it is: done at once
                theirs: [0],  # broker 1's partition cannot move to broker 0
                8: [0],  # no such partition
            },
            "absent": {0: [0]},  # no such topic
        }
    )
    response = await call(broker, ALTER_PARTITION_REASSIGNMENTS, version, body)
    assert (response.error_code, response.error_message) == (ErrorCode.NONE, None)
    [placed, absent] = response.responses
    assert [(p.partition_index, p.error_code) for p in placed.partitions] == [
        (mine, ErrorCode.NONE),
        (theirs, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        (8, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert "belongs to broker 1" in placed.partitions[1].error_message
    assert [(p.partition_index, p.error_code) for p in absent.partitions] == [(0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]


@pytest.mark.parametrize(
    ("replicas", "allow_change", "error", "fragment"),
    [
        (None, True, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "to cancel"),
        ([], True, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "0 replicas"),
        ([0, 0], True, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "2 replicas"),
        ([7], True, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "broker 7 is not a live broker"),
        ([0, 7], False, ErrorCode.INVALID_REPLICATION_FACTOR, "from 1 to 2"),
    ],
)
async def test_alter_partition_reassignments_refusals(
    broker: Broker, replicas: list[int] | None, allow_change: bool, error: ErrorCode, fragment: str
) -> None:
    await create(broker, "kept", 1)
    body = reassign_body({"kept": {0: replicas}}, allow_change)
    [result] = (await call(broker, ALTER_PARTITION_REASSIGNMENTS, 1, body)).responses[0].partitions
    assert result.error_code == error
    assert fragment in result.error_message


async def test_list_partition_reassignments_is_always_empty(broker: Broker) -> None:
    await create(broker, "steady", 2)
    Topic = LIST_PARTITION_REASSIGNMENTS.Request.ListPartitionReassignmentsTopics
    for topics in (None, [Topic(name="steady", partition_indexes=[0, 1]), Topic(name="absent", partition_indexes=[0])]):
        body = LIST_PARTITION_REASSIGNMENTS.Request(timeout_ms=5000, topics=topics)
        response = await call(broker, LIST_PARTITION_REASSIGNMENTS, 0, body)
        assert (response.error_code, response.error_message, response.topics) == (ErrorCode.NONE, None, [])


# -- DescribeTopicPartitions -----------------------------------------------------


def partitions_body(names: list[str], limit: int = 2000, cursor: tuple[str, int] | None = None) -> Any:
    Request = DESCRIBE_TOPIC_PARTITIONS.Request
    return Request(
        topics=[Request.TopicRequest(name=name) for name in names],
        response_partition_limit=limit,
        cursor=None if cursor is None else Request.Cursor(topic_name=cursor[0], partition_index=cursor[1]),
    )


def described(response: Any) -> list[tuple[str, int, list[int]]]:
    return [(t.name, t.error_code, [p.partition_index for p in t.partitions]) for t in response.topics]


async def test_describe_topic_partitions(broker: Broker) -> None:
    await create(broker, "beta", 2)
    await create(broker, "alpha", 3)
    stored = await broker.metadata.topics.get_topic("alpha")
    response = await call(broker, DESCRIBE_TOPIC_PARTITIONS, 0, partitions_body(["beta", "alpha", "gone", "bad/name"]))
    assert described(response) == [
        ("alpha", ErrorCode.NONE, [0, 1, 2]),
        ("bad/name", ErrorCode.INVALID_TOPIC_EXCEPTION, []),
        ("beta", ErrorCode.NONE, [0, 1]),
        ("gone", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, []),
    ]
    assert response.next_cursor is None
    alpha = response.topics[0]
    assert stored is not None and alpha.topic_id == stored.topic_id
    for partition in alpha.partitions:
        leader = broker.cluster.partition_leader("alpha", partition.partition_index)
        assert (partition.leader_id, partition.replica_nodes, partition.isr_nodes) == (leader, [leader], [leader])
        assert (partition.eligible_leader_replicas, partition.offline_replicas) == (None, [])
    everything = await call(broker, DESCRIBE_TOPIC_PARTITIONS, 0, partitions_body([]))
    assert described(everything) == [("alpha", 0, [0, 1, 2]), ("beta", 0, [0, 1])]  # existing topics only


async def test_describe_topic_partitions_pages(broker: Broker) -> None:
    await create(broker, "alpha", 3)
    await create(broker, "beta", 2)
    pages = []
    cursor = None
    while True:
        response = await call(broker, DESCRIBE_TOPIC_PARTITIONS, 0, partitions_body([], 2, cursor))
        pages.append(described(response))
        if response.next_cursor is None:
            break
        cursor = (response.next_cursor.topic_name, response.next_cursor.partition_index)
    assert pages == [[("alpha", 0, [0, 1])], [("alpha", 0, [2]), ("beta", 0, [0])], [("beta", 0, [1])]]
    # A page that ends exactly at a topic's end points the cursor at the next topic's start.
    response = await call(broker, DESCRIBE_TOPIC_PARTITIONS, 0, partitions_body(["alpha", "beta"], 3))
    assert described(response) == [("alpha", 0, [0, 1, 2])]
    assert (response.next_cursor.topic_name, response.next_cursor.partition_index) == ("beta", 0)
    # A limit below 1 counts as 1.
    response = await call(broker, DESCRIBE_TOPIC_PARTITIONS, 0, partitions_body(["beta"], 0))
    assert described(response) == [("beta", 0, [0])]


@pytest.mark.parametrize("cursor", [("beta", 0), ("alpha", -1)])
async def test_describe_topic_partitions_bad_cursor(broker: Broker, cursor: tuple[str, int]) -> None:
    await create(broker, "alpha", 1)
    response = await call(broker, DESCRIBE_TOPIC_PARTITIONS, 0, partitions_body(["alpha"], cursor=cursor))
    assert described(response) == [("alpha", ErrorCode.INVALID_REQUEST, [])]


# -- ListConfigResources ---------------------------------------------------------


async def test_list_config_resources(broker: Broker) -> None:
    await create(broker, "configured", 1)
    await add_live_broker(broker, 2)

    async def listed(version: int, types: list[int]) -> Any:
        return await call(broker, LIST_CONFIG_RESOURCES, version, LIST_CONFIG_RESOURCES.Request(resource_types=types))

    everything = await listed(1, [])
    assert everything.error_code == ErrorCode.NONE
    assert [(r.resource_type, r.resource_name) for r in everything.config_resources] == [
        (2, "configured"),
        (4, "0"),
        (4, "2"),
    ]
    assert [r.resource_name for r in (await listed(1, [4])).config_resources] == ["0", "2"]
    assert (await listed(1, [16, 32])).config_resources == []  # no client metrics, no group configs
    assert (await listed(0, [])).config_resources == []  # v0: client metrics resources only
    refused = await listed(1, [2, 8])  # BROKER_LOGGER has no configs here
    assert (refused.error_code, refused.config_resources) == (ErrorCode.UNSUPPORTED_VERSION, [])


# -- ListOffsets' tiered-storage queries ------------------------------------------


async def test_list_offsets_tiered_queries(broker: Broker) -> None:
    await create(broker, "tiered", 1)
    stored = await broker.metadata.topics.get_topic("tiered")
    assert stored is not None
    await broker.metadata.log.set_log_start_offset(stored.topic_id, 0, 0)
    Topic = LIST_OFFSETS.Request.ListOffsetsTopic
    body = LIST_OFFSETS.Request(
        replica_id=-1,
        topics=[Topic(name="tiered", partitions=[Topic.ListOffsetsPartition(timestamp=t) for t in (-4, -5, -6)])],
        timeout_ms=1000,
    )
    response = await call(broker, LIST_OFFSETS, 11, body)
    state = await broker.log.state(stored.topic_id, 0)
    assert [(p.error_code, p.offset) for p in response.topics[0].partitions] == [
        (ErrorCode.NONE, state.log_start_offset),  # earliest local: the log start, as with no tiering
        (ErrorCode.NONE, -1),  # latest tiered: none
        (ErrorCode.NONE, -1),  # earliest pending upload: none
    ]


# -- manual replica assignments ----------------------------------------------------


async def test_create_partitions_with_assignments(broker: Broker) -> None:
    await create(broker, "assigned", 2)
    [result] = (await call(broker, CREATE_PARTITIONS, 3, grow_body(("assigned", 4, [[0], [0]])))).results
    assert (result.error_code, result.error_message) == (ErrorCode.NONE, None)
    stored = await broker.metadata.topics.get_topic("assigned")
    assert stored is not None and stored.partitions == 4


@pytest.mark.parametrize(
    ("assignments", "fragment"),
    [
        ([[0]], "grows by 2 partition(s), but 1 assignment(s)"),
        ([[0], [0], [0]], "but 3 assignment(s)"),
        ([[0], []], "0 replicas asked"),
        ([[0], [0, 0]], "2 replicas asked"),
        ([[0], [5]], "broker 5 is not a live broker"),
    ],
)
async def test_create_partitions_refused_assignments(
    broker: Broker, assignments: list[list[int]], fragment: str
) -> None:
    await create(broker, "kept", 2)
    [result] = (await call(broker, CREATE_PARTITIONS, 3, grow_body(("kept", 4, assignments)))).results
    assert result.error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert fragment in result.error_message
    stored = await broker.metadata.topics.get_topic("kept")
    assert stored is not None and stored.partitions == 2


async def test_assignments_must_name_the_preferred_broker(broker: Broker) -> None:
    await add_live_broker(broker)
    await create(broker, "hashed", 1)
    preferred = broker.cluster.partition_leader("hashed", 1)
    other = 1 - preferred
    [refused] = (await call(broker, CREATE_PARTITIONS, 3, grow_body(("hashed", 2, [[other]])))).results
    assert refused.error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert f"belongs to broker {preferred}" in refused.error_message
    [grown] = (await call(broker, CREATE_PARTITIONS, 3, grow_body(("hashed", 2, [[preferred]])))).results
    assert grown.error_code == ErrorCode.NONE

    leaders = {index: broker.cluster.partition_leader("manual", index) for index in range(2)}
    body = create_body(creatable("manual", -1, -1, assignments={i: [1 - b] for i, b in leaders.items()}))
    [refused] = (await call(broker, CREATE_TOPICS, 7, body)).topics
    assert refused.error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    body = create_body(creatable("manual", -1, -1, assignments={i: [b] for i, b in leaders.items()}))
    [created] = (await call(broker, CREATE_TOPICS, 7, body)).topics
    assert (created.error_code, created.num_partitions, created.replication_factor) == (ErrorCode.NONE, 2, 1)


async def test_create_topics_with_assignments(broker: Broker) -> None:
    body = create_body(creatable("manual", -1, -1, assignments={0: [0], 1: [0], 2: [0]}))
    [result] = (await call(broker, CREATE_TOPICS, 7, body)).topics
    assert (result.error_code, result.num_partitions) == (ErrorCode.NONE, 3)
    stored = await broker.metadata.topics.get_topic("manual")
    assert stored is not None and stored.partitions == 3


@pytest.mark.parametrize(
    ("partitions", "replication", "assignments", "error", "fragment"),
    [
        (2, -1, {0: [0], 1: [0]}, ErrorCode.INVALID_REQUEST, "num_partitions -1"),
        (-1, 1, {0: [0]}, ErrorCode.INVALID_REQUEST, "replication_factor -1"),
        (-1, -1, {0: [0], 2: [0]}, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "without gaps"),
        (-1, -1, {1: [0]}, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "without gaps"),
        (-1, -1, {0: [0, 0]}, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "2 replicas asked"),
        (-1, -1, {0: [9]}, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "broker 9 is not a live broker"),
    ],
)
async def test_create_topics_refused_assignments(
    broker: Broker,
    partitions: int,
    replication: int,
    assignments: dict[int, list[int]],
    error: ErrorCode,
    fragment: str,
) -> None:
    body = create_body(creatable("refused", partitions, replication, assignments=assignments))
    [result] = (await call(broker, CREATE_TOPICS, 7, body)).topics
    assert result.error_code == error
    assert fragment in result.error_message
    assert await broker.metadata.topics.get_topic("refused") is None


async def test_create_topics_partition_assigned_twice(broker: Broker) -> None:
    body = create_body(creatable("twice", -1, -1, assignments={0: [0]}))
    body.topics[0].assignments.append(body.topics[0].assignments[0])
    [result] = (await call(broker, CREATE_TOPICS, 7, body)).topics
    assert result.error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert "partition 0 is assigned more than once" in result.error_message
