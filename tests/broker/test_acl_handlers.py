"""The ACL APIs and every handler's authorization checks, on a real Broker run with --authorizer acl.

Requests go through the codecs as in test_admin_handlers; the connection is a stand-in whose principal
the test sets (authentication is another module's job): "User:admin" is a super user, "User:alice"
gets only the bindings each test creates through CreateAcls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.security.authorizer import CLUSTER_NAME, Operation, PatternType, Permission, ResourceType
from streamhouse.broker.security.listeners import Listener
from streamhouse.protocol.apis.add_offsets_to_txn import ADD_OFFSETS_TO_TXN
from streamhouse.protocol.apis.add_partitions_to_txn import ADD_PARTITIONS_TO_TXN
from streamhouse.protocol.apis.alter_partition_reassignments import ALTER_PARTITION_REASSIGNMENTS
from streamhouse.protocol.apis.alter_replica_log_dirs import ALTER_REPLICA_LOG_DIRS
from streamhouse.protocol.apis.create_acls import CREATE_ACLS
from streamhouse.protocol.apis.create_partitions import CREATE_PARTITIONS
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.delete_acls import DELETE_ACLS
from streamhouse.protocol.apis.delete_groups import DELETE_GROUPS
from streamhouse.protocol.apis.delete_records import DELETE_RECORDS
from streamhouse.protocol.apis.delete_topics import DELETE_TOPICS
from streamhouse.protocol.apis.describe_acls import DESCRIBE_ACLS
from streamhouse.protocol.apis.describe_cluster import DESCRIBE_CLUSTER
from streamhouse.protocol.apis.describe_configs import DESCRIBE_CONFIGS
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.describe_log_dirs import DESCRIBE_LOG_DIRS
from streamhouse.protocol.apis.describe_quorum import DESCRIBE_QUORUM
from streamhouse.protocol.apis.describe_topic_partitions import DESCRIBE_TOPIC_PARTITIONS
from streamhouse.protocol.apis.describe_transactions import DESCRIBE_TRANSACTIONS
from streamhouse.protocol.apis.elect_leaders import ELECT_LEADERS
from streamhouse.protocol.apis.end_txn import END_TXN
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.find_coordinator import FIND_COORDINATOR
from streamhouse.protocol.apis.heartbeat import HEARTBEAT
from streamhouse.protocol.apis.incremental_alter_configs import INCREMENTAL_ALTER_CONFIGS
from streamhouse.protocol.apis.init_producer_id import INIT_PRODUCER_ID
from streamhouse.protocol.apis.join_group import JOIN_GROUP
from streamhouse.protocol.apis.leave_group import LEAVE_GROUP
from streamhouse.protocol.apis.list_config_resources import LIST_CONFIG_RESOURCES
from streamhouse.protocol.apis.list_groups import LIST_GROUPS
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from streamhouse.protocol.apis.list_partition_reassignments import LIST_PARTITION_REASSIGNMENTS
from streamhouse.protocol.apis.list_transactions import LIST_TRANSACTIONS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.offset_delete import OFFSET_DELETE
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.apis.offset_for_leader_epoch import OFFSET_FOR_LEADER_EPOCH
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.apis.sync_group import SYNC_GROUP
from streamhouse.protocol.apis.txn_offset_commit import TXN_OFFSET_COMMIT
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch
from tests.broker.inprocess import PLAINTEXT_LISTENER, running_broker
from tests.broker.test_admin_handlers import call

E = ErrorCode
Op = Operation
TOPIC, GROUP, CLUSTER, TXN = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER, ResourceType.TRANSACTIONAL_ID
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = Permission.ALLOW, Permission.DENY


@dataclass
class Peer:
    """What the handlers read of a connection: who, from where, through which listener, and its produce lock."""

    principal: str
    peer_host: str = "10.1.2.3"
    peer: str = "10.1.2.3:45678"
    listener: Listener = PLAINTEXT_LISTENER
    produce_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


ADMIN, ALICE = Peer("User:admin"), Peer("User:alice")


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with running_broker(
        tmp_path, authorizer="acl", super_users="User:admin", group_initial_rebalance_delay_ms=0, metrics=True
    ) as instance:
        await send(instance, CREATE_TOPICS, ADMIN, topics=[creatable("orders"), creatable("secret")], timeout_ms=5000)
        yield instance


def creatable(name: str) -> Any:
    return CREATE_TOPICS.Request.CreatableTopic(name=name, num_partitions=1, replication_factor=1)


async def send(broker: Broker, api: Any, who: Peer, version: int | None = None, **fields: Any) -> Any:
    return await call(broker, api, api.max_version if version is None else version, api.Request(**fields), who)


async def grant(
    broker: Broker,
    resource_type: int,
    name: str,
    *operations: Operation,
    permission: int = ALLOW,
    pattern: int = LITERAL,
    principal: str = "User:alice",
) -> None:
    creations = [
        binding(
            resource_type=resource_type,
            resource_name=name,
            resource_pattern_type=pattern,
            principal=principal,
            operation=operation,
            permission_type=permission,
        )
        for operation in operations
    ]
    response = await send(broker, CREATE_ACLS, ADMIN, creations=creations)
    assert [r.error_code for r in response.results] == [E.NONE] * len(creations)


def binding(**fields: Any) -> Any:
    """A CreateAcls binding: User:alice may READ topic t from any host, unless `fields` say otherwise."""
    values = {
        "resource_type": TOPIC,
        "resource_name": "t",
        "resource_pattern_type": LITERAL,
        "principal": "User:alice",
        "host": "*",
        "operation": Op.READ,
        "permission_type": ALLOW,
    }
    return CREATE_ACLS.Request.AclCreation(**(values | fields))


def describe_filter(**fields: Any) -> dict[str, Any]:
    return {
        "resource_type_filter": ResourceType.ANY,
        "resource_name_filter": None,
        "pattern_type_filter": PatternType.ANY,
        "principal_filter": None,
        "host_filter": None,
        "operation": Op.ANY,
        "permission_type": Permission.ANY,
    } | fields


# -- the ACL APIs ----------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_create_describe_delete_acls_every_version(broker: Broker, version: int) -> None:
    bindings = [
        binding(resource_name="pay-", resource_pattern_type=PREFIXED),
        binding(
            resource_type=GROUP,
            resource_name="g",
            principal="User:bob",
            host="10.0.0.1",
            operation=Op.ALL,
            permission_type=DENY,
        ),
    ]
    created = await send(broker, CREATE_ACLS, ADMIN, version, creations=bindings)
    assert [(r.error_code, r.error_message) for r in created.results] == [(E.NONE, None)] * 2
    described = await send(broker, DESCRIBE_ACLS, ADMIN, version, **describe_filter())
    assert described.error_code == E.NONE
    assert [(r.resource_type, r.resource_name, r.pattern_type) for r in described.resources] == [
        (TOPIC, "pay-", PREFIXED),
        (GROUP, "g", LITERAL),
    ]
    assert [(a.principal, a.host, a.operation, a.permission_type) for a in described.resources[1].acls] == [
        ("User:bob", "10.0.0.1", Op.ALL, DENY)
    ]
    matched = await send(
        broker, DESCRIBE_ACLS, ADMIN, version, **describe_filter(resource_name_filter="pay-eu", pattern_type_filter=2)
    )
    assert [r.resource_name for r in matched.resources] == ["pay-"]  # MATCH: the prefix applies to pay-eu
    deleted = await send(
        broker,
        DELETE_ACLS,
        ADMIN,
        version,
        filters=[DELETE_ACLS.Request.DeleteAclsFilter(**describe_filter(resource_type_filter=GROUP))],
    )
    [result] = deleted.filter_results
    assert result.error_code == E.NONE
    assert [(m.resource_name, m.principal, m.error_code) for m in result.matching_acls] == [("g", "User:bob", E.NONE)]
    remaining = await send(broker, DESCRIBE_ACLS, ADMIN, version, **describe_filter())
    assert [r.resource_name for r in remaining.resources] == ["pay-"]


async def test_invalid_bindings_get_invalid_request(broker: Broker) -> None:
    bad = [
        binding(resource_type=ResourceType.ANY),
        binding(resource_pattern_type=PatternType.MATCH),
        binding(operation=Op.ANY),
        binding(permission_type=Permission.ANY),
        binding(resource_name=""),
        binding(resource_type=CLUSTER, resource_name="other"),
        binding(principal="alice"),
        binding(resource_type=99),
    ]
    response = await send(broker, CREATE_ACLS, ADMIN, creations=[*bad, binding()])
    assert [r.error_code for r in response.results] == [E.INVALID_REQUEST] * len(bad) + [E.NONE]
    listed = await send(broker, DESCRIBE_ACLS, ADMIN, **describe_filter())
    assert [r.resource_name for r in listed.resources] == ["t"]
    unknown = await send(broker, DESCRIBE_ACLS, ADMIN, **describe_filter(operation=99))
    assert unknown.error_code == E.INVALID_REQUEST


async def test_the_acl_apis_need_alter_or_describe_on_the_cluster(broker: Broker) -> None:
    creation = binding(operation=Op.ALL)
    created = await send(broker, CREATE_ACLS, ALICE, creations=[creation])
    assert [r.error_code for r in created.results] == [E.CLUSTER_AUTHORIZATION_FAILED]
    described = await send(broker, DESCRIBE_ACLS, ALICE, **describe_filter())
    assert described.error_code == E.CLUSTER_AUTHORIZATION_FAILED
    deleted = await send(
        broker, DELETE_ACLS, ALICE, filters=[DELETE_ACLS.Request.DeleteAclsFilter(**describe_filter())]
    )
    assert [r.error_code for r in deleted.filter_results] == [E.CLUSTER_AUTHORIZATION_FAILED]
    await grant(broker, CLUSTER, CLUSTER_NAME, Op.ALTER)  # ALTER implies DESCRIBE
    assert (await send(broker, DESCRIBE_ACLS, ALICE, **describe_filter())).error_code == E.NONE
    assert [r.error_code for r in (await send(broker, CREATE_ACLS, ALICE, creations=[creation])).results] == [E.NONE]


async def test_without_the_authorizer_the_acl_apis_answer_security_disabled(tmp_path: Path) -> None:
    async with running_broker(tmp_path) as broker:
        described = await send(broker, DESCRIBE_ACLS, ALICE, **describe_filter())
        assert described.error_code == E.SECURITY_DISABLED
        creation = CREATE_ACLS.Request.AclCreation(resource_type=TOPIC, resource_name="t", principal="User:a", host="*")
        created = await send(broker, CREATE_ACLS, ALICE, creations=[creation])
        assert [r.error_code for r in created.results] == [E.SECURITY_DISABLED]
        filters = [DELETE_ACLS.Request.DeleteAclsFilter(**describe_filter())]
        deleted = await send(broker, DELETE_ACLS, ALICE, filters=filters)
        assert [r.error_code for r in deleted.filter_results] == [E.SECURITY_DISABLED]


# -- topics ----------------------------------------------------------------------


def produce_request(*topics: str, transactional_id: str | None = None) -> dict[str, Any]:
    data = PRODUCE.Request.TopicProduceData
    batch = build_batch([Record(b"k", b"v")])
    return {
        "acks": -1,
        "timeout_ms": 5000,
        "transactional_id": transactional_id,
        "topic_data": [
            data(name=name, partition_data=[data.PartitionProduceData(index=0, records=batch)]) for name in topics
        ],
    }


def partition_errors(response: Any) -> dict[str, list[int]]:
    return {t.name: [p.error_code for p in t.partition_responses] for t in response.responses}


async def test_produce_needs_write_on_the_topic_and_the_transactional_id(broker: Broker) -> None:
    await grant(broker, TOPIC, "orders", Op.WRITE)
    response = await send(broker, PRODUCE, ALICE, **produce_request("orders", "secret"))
    assert partition_errors(response) == {"orders": [E.NONE], "secret": [E.TOPIC_AUTHORIZATION_FAILED]}
    refused = await send(broker, PRODUCE, ALICE, **produce_request("orders", transactional_id="tx"))
    assert partition_errors(refused) == {"orders": [E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED]}


async def test_auto_creation_needs_create_on_the_cluster_or_the_topic(broker: Broker) -> None:
    await grant(broker, TOPIC, "*", Op.WRITE, Op.DESCRIBE)
    await grant(broker, TOPIC, "new-", Op.CREATE, pattern=PREFIXED)
    response = await send(broker, PRODUCE, ALICE, **produce_request("new-1", "other"))
    assert partition_errors(response) == {"new-1": [E.NONE], "other": [E.TOPIC_AUTHORIZATION_FAILED]}
    wanted = [METADATA.Request.MetadataRequestTopic(name=name) for name in ("new-2", "other")]
    metadata = await send(broker, METADATA, ALICE, topics=wanted, allow_auto_topic_creation=True)
    assert [(t.name, t.error_code) for t in metadata.topics] == [
        ("new-2", E.NONE),
        ("other", E.TOPIC_AUTHORIZATION_FAILED),
    ]
    await grant(broker, CLUSTER, CLUSTER_NAME, Op.CREATE)
    again = await send(broker, METADATA, ALICE, topics=wanted[1:], allow_auto_topic_creation=True)
    assert [(t.name, t.error_code) for t in again.topics] == [("other", E.NONE)]


async def test_metadata_lists_only_describable_topics_with_their_operations(broker: Broker) -> None:
    await grant(broker, TOPIC, "orders", Op.READ)
    everything = await send(broker, METADATA, ALICE, topics=None, include_topic_authorized_operations=True)
    assert [(t.name, t.topic_authorized_operations) for t in everything.topics] == [
        ("orders", (1 << Op.READ) | (1 << Op.DESCRIBE))
    ]
    named = [METADATA.Request.MetadataRequestTopic(name="secret")]
    refused = await send(broker, METADATA, ALICE, topics=named, allow_auto_topic_creation=False)
    assert [(t.name, t.error_code) for t in refused.topics] == [("secret", E.TOPIC_AUTHORIZATION_FAILED)]
    admin = await send(broker, METADATA, ADMIN, 10, topics=None, include_cluster_authorized_operations=True)
    assert sorted(t.name for t in admin.topics) == ["__consumer_offsets", "__transaction_state", "orders", "secret"]
    assert admin.cluster_authorized_operations == sum(
        1 << op
        for op in (
            Op.CREATE,
            Op.CLUSTER_ACTION,
            Op.DESCRIBE_CONFIGS,
            Op.ALTER_CONFIGS,
            Op.IDEMPOTENT_WRITE,
            Op.ALTER,
            Op.DESCRIBE,
        )
    )
    alice = await send(broker, METADATA, ALICE, 10, topics=None, include_cluster_authorized_operations=True)
    assert alice.cluster_authorized_operations == 0  # Kafka: 0 to whom may not DESCRIBE the cluster


async def test_fetch_and_list_offsets_need_read_and_describe(broker: Broker) -> None:
    await grant(broker, TOPIC, "orders", Op.READ)
    fetch_topic = FETCH.Request.FetchTopic
    partition = fetch_topic.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)
    fetched = await send(
        broker,
        FETCH,
        ALICE,
        12,  # the last version naming topics by name
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        topics=[fetch_topic(topic=name, partitions=[partition]) for name in ("orders", "secret")],
    )
    assert [(t.topic, t.partitions[0].error_code) for t in fetched.responses] == [
        ("orders", E.NONE),
        ("secret", E.TOPIC_AUTHORIZATION_FAILED),
    ]
    list_topic = LIST_OFFSETS.Request.ListOffsetsTopic
    offsets = await send(
        broker,
        LIST_OFFSETS,
        ALICE,
        replica_id=-1,
        topics=[
            list_topic(name=name, partitions=[list_topic.ListOffsetsPartition(partition_index=0, timestamp=-1)])
            for name in ("orders", "secret")
        ],
    )
    assert [(t.name, t.partitions[0].error_code) for t in offsets.topics] == [
        ("orders", E.NONE),
        ("secret", E.TOPIC_AUTHORIZATION_FAILED),
    ]


async def test_topic_admin_needs_create_delete_alter_and_the_configs_operations(broker: Broker) -> None:
    created = await send(broker, CREATE_TOPICS, ALICE, topics=[creatable("mine")], timeout_ms=5000)
    assert [t.error_code for t in created.topics] == [E.TOPIC_AUTHORIZATION_FAILED]
    deleted = await send(broker, DELETE_TOPICS, ALICE, 5, topic_names=["orders"], timeout_ms=5000)
    assert [r.error_code for r in deleted.responses] == [E.TOPIC_AUTHORIZATION_FAILED]
    grow = CREATE_PARTITIONS.Request.CreatePartitionsTopic(name="orders", count=2, assignments=None)
    grown = await send(broker, CREATE_PARTITIONS, ALICE, topics=[grow], timeout_ms=5000, validate_only=True)
    assert [r.error_code for r in grown.results] == [E.TOPIC_AUTHORIZATION_FAILED]
    records_topic = DELETE_RECORDS.Request.DeleteRecordsTopic
    removed = await send(
        broker,
        DELETE_RECORDS,
        ALICE,
        topics=[
            records_topic(name="orders", partitions=[records_topic.DeleteRecordsPartition(partition_index=0, offset=0)])
        ],
        timeout_ms=5000,
    )
    assert [p.error_code for p in removed.topics[0].partitions] == [E.TOPIC_AUTHORIZATION_FAILED]
    resource = DESCRIBE_CONFIGS.Request.DescribeConfigsResource
    described = await send(
        broker,
        DESCRIBE_CONFIGS,
        ALICE,
        resources=[resource(resource_type=2, resource_name="orders"), resource(resource_type=4, resource_name="0")],
    )
    assert [r.error_code for r in described.results] == [E.TOPIC_AUTHORIZATION_FAILED, E.CLUSTER_AUTHORIZATION_FAILED]
    await grant(broker, TOPIC, "orders", Op.ALTER_CONFIGS)  # implies DESCRIBE_CONFIGS
    described = await send(
        broker, DESCRIBE_CONFIGS, ALICE, resources=[resource(resource_type=2, resource_name="orders")]
    )
    assert [r.error_code for r in described.results] == [E.NONE]
    alter = INCREMENTAL_ALTER_CONFIGS.Request.AlterConfigsResource
    altered = await send(
        broker,
        INCREMENTAL_ALTER_CONFIGS,
        ALICE,
        resources=[
            alter(resource_type=2, resource_name="orders", configs=[]),
            alter(resource_type=2, resource_name="secret", configs=[]),
        ],
    )
    assert [r.error_code for r in altered.responses] == [E.NONE, E.TOPIC_AUTHORIZATION_FAILED]


# -- groups, transactions, cluster -------------------------------------------------


async def test_group_apis_need_read_describe_delete_on_the_group(broker: Broker) -> None:
    protocol = JOIN_GROUP.Request.JoinGroupRequestProtocol(name="range", metadata=b"")
    joined = await send(
        broker,
        JOIN_GROUP,
        ALICE,
        group_id="g",
        session_timeout_ms=10_000,
        member_id="",
        protocol_type="consumer",
        protocols=[protocol],
    )
    assert joined.error_code == E.GROUP_AUTHORIZATION_FAILED
    commit_topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
    commit_partition = commit_topic.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)
    topics = [commit_topic(name=name, partitions=[commit_partition]) for name in ("orders", "secret")]
    committed = await send(broker, OFFSET_COMMIT, ALICE, group_id="g", topics=topics)
    assert [t.partitions[0].error_code for t in committed.topics] == [E.GROUP_AUTHORIZATION_FAILED] * 2
    await grant(broker, GROUP, "g", Op.READ)
    await grant(broker, TOPIC, "orders", Op.READ)
    committed = await send(broker, OFFSET_COMMIT, ALICE, group_id="g", topics=topics)
    assert [(t.name, t.partitions[0].error_code) for t in committed.topics] == [
        ("orders", E.NONE),
        ("secret", E.TOPIC_AUTHORIZATION_FAILED),
    ]
    fetched = await send(broker, OFFSET_FETCH, ALICE, 7, group_id="g", topics=None)
    assert [(t.name, [p.committed_offset for p in t.partitions]) for t in fetched.topics] == [("orders", [1])]
    coordinator = await send(broker, FIND_COORDINATOR, ALICE, key_type=0, coordinator_keys=["g", "h"])
    assert [c.error_code for c in coordinator.coordinators] == [E.NONE, E.GROUP_AUTHORIZATION_FAILED]
    described = await send(broker, DESCRIBE_GROUPS, ALICE, groups=["g", "h"], include_authorized_operations=True)
    assert [(g.error_code, g.authorized_operations) for g in described.groups] == [
        (E.NONE, (1 << Op.READ) | (1 << Op.DESCRIBE)),
        (E.GROUP_AUTHORIZATION_FAILED, -(2**31)),
    ]
    listed = await send(broker, LIST_GROUPS, ALICE, states_filter=[])
    assert [g.group_id for g in listed.groups] == ["g"]
    await send(broker, OFFSET_COMMIT, ADMIN, group_id="h", topics=topics[:1])
    assert [g.group_id for g in (await send(broker, LIST_GROUPS, ALICE, states_filter=[])).groups] == ["g"]
    assert sorted(g.group_id for g in (await send(broker, LIST_GROUPS, ADMIN, states_filter=[])).groups) == ["g", "h"]
    deleted = await send(broker, DELETE_GROUPS, ALICE, groups_names=["g"])
    assert [r.error_code for r in deleted.results] == [E.GROUP_AUTHORIZATION_FAILED]


async def test_producer_ids_need_write_on_the_transactional_id_or_idempotent_write(broker: Broker) -> None:
    transactional = await send(broker, INIT_PRODUCER_ID, ALICE, transactional_id="tx", transaction_timeout_ms=60_000)
    assert transactional.error_code == E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    idempotent = await send(broker, INIT_PRODUCER_ID, ALICE, transactional_id=None, transaction_timeout_ms=60_000)
    assert idempotent.error_code == E.CLUSTER_AUTHORIZATION_FAILED
    await grant(broker, TOPIC, "orders", Op.WRITE)  # WRITE on some topic is enough (Kafka 3+)
    idempotent = await send(broker, INIT_PRODUCER_ID, ALICE, transactional_id=None, transaction_timeout_ms=60_000)
    assert idempotent.error_code == E.NONE
    coordinator = await send(broker, FIND_COORDINATOR, ALICE, key_type=1, coordinator_keys=["tx"])
    assert [c.error_code for c in coordinator.coordinators] == [E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED]
    ended = await send(broker, END_TXN, ALICE, transactional_id="tx", producer_id=1, producer_epoch=0, committed=True)
    assert ended.error_code == E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


async def test_cluster_apis_need_their_cluster_operation(broker: Broker) -> None:
    cluster = await send(broker, DESCRIBE_CLUSTER, ALICE, include_cluster_authorized_operations=True)
    assert (cluster.error_code, cluster.cluster_authorized_operations) == (E.NONE, 0)
    log_dirs = await send(broker, DESCRIBE_LOG_DIRS, ALICE, topics=None)
    assert (log_dirs.error_code, log_dirs.results) == (E.CLUSTER_AUTHORIZATION_FAILED, [])
    await grant(broker, CLUSTER, CLUSTER_NAME, Op.DESCRIBE)
    cluster = await send(broker, DESCRIBE_CLUSTER, ALICE, include_cluster_authorized_operations=True)
    assert cluster.cluster_authorized_operations == 1 << Op.DESCRIBE
    assert (await send(broker, DESCRIBE_LOG_DIRS, ALICE, topics=None)).error_code == E.NONE


async def test_denials_are_counted_on_metrics_by_operation_and_resource_type(broker: Broker) -> None:
    await send(broker, PRODUCE, ALICE, **produce_request("secret", "orders"))
    await send(broker, DESCRIBE_ACLS, ALICE, **describe_filter())
    await send(broker, METADATA, ALICE, topics=None)  # a filtered listing is no denial
    assert broker.authorizer.denials == {("write", "topic"): 2, ("describe", "cluster"): 1}
    assert broker.metrics is not None
    exposition = (await broker.metrics.render()).decode()
    lines = [line for line in exposition.splitlines() if line.startswith("streamhouse_authorization_denials")]
    assert sorted(lines) == [
        'streamhouse_authorization_denials_total{operation="describe",resource_type="cluster"} 1.0',
        'streamhouse_authorization_denials_total{operation="write",resource_type="topic"} 2.0',
    ]


async def test_the_other_group_and_transaction_apis_refuse_with_their_codes(broker: Broker) -> None:
    group = {"group_id": "g", "generation_id": 1, "member_id": "m"}
    synced = await send(broker, SYNC_GROUP, ALICE, **group, protocol_type="consumer", protocol_name="range")
    assert synced.error_code == E.GROUP_AUTHORIZATION_FAILED
    assert (await send(broker, HEARTBEAT, ALICE, **group)).error_code == E.GROUP_AUTHORIZATION_FAILED
    member = LEAVE_GROUP.Request.MemberIdentity(member_id="m")
    left = await send(broker, LEAVE_GROUP, ALICE, group_id="g", members=[member])
    assert left.error_code == E.GROUP_AUTHORIZATION_FAILED
    delete_topic = OFFSET_DELETE.Request.OffsetDeleteRequestTopic
    wanted = [delete_topic(name="orders", partitions=[delete_topic.OffsetDeleteRequestPartition(partition_index=0)])]
    refused = await send(broker, OFFSET_DELETE, ALICE, group_id="g", topics=wanted)
    assert refused.error_code == E.GROUP_AUTHORIZATION_FAILED
    await grant(broker, GROUP, "g", Op.DELETE)
    commit_topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
    commit = commit_topic(name="orders", partitions=[commit_topic.OffsetCommitRequestPartition(committed_offset=1)])
    committed = await send(broker, OFFSET_COMMIT, ADMIN, group_id="g", topics=[commit])
    assert committed.topics[0].partitions[0].error_code == E.NONE
    deleted = await send(broker, OFFSET_DELETE, ALICE, group_id="g", topics=wanted)
    assert [p.error_code for p in deleted.topics[0].partitions] == [E.TOPIC_AUTHORIZATION_FAILED]
    txn = {"transactional_id": "tx", "producer_id": 1, "producer_epoch": 0}

    async def add_partitions(*topics: str) -> list[int]:
        add_topic = ADD_PARTITIONS_TO_TXN.Request.AddPartitionsToTxnTopic
        added = await send(
            broker,
            ADD_PARTITIONS_TO_TXN,
            ALICE,
            3,  # a producer's form (v4+ is the brokers')
            v3_and_below_transactional_id="tx",
            v3_and_below_producer_id=1,
            v3_and_below_producer_epoch=0,
            v3_and_below_topics=[add_topic(name=name, partitions=[0]) for name in topics],
        )
        return [p.partition_error_code for t in added.results_by_topic_v3_and_below for p in t.results_by_partition]

    assert await add_partitions("orders") == [E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED]
    offsets = await send(broker, ADD_OFFSETS_TO_TXN, ALICE, **txn, group_id="g")
    assert offsets.error_code == E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    await grant(broker, TXN, "tx", Op.WRITE)
    await grant(broker, TOPIC, "orders", Op.WRITE)
    assert await add_partitions("orders", "secret") == [E.OPERATION_NOT_ATTEMPTED, E.TOPIC_AUTHORIZATION_FAILED]
    offsets = await send(broker, ADD_OFFSETS_TO_TXN, ALICE, **txn, group_id="g")
    assert offsets.error_code == E.GROUP_AUTHORIZATION_FAILED  # DELETE on the group is not READ
    commit_topic = TXN_OFFSET_COMMIT.Request.TxnOffsetCommitRequestTopic
    partition = commit_topic.TxnOffsetCommitRequestPartition(partition_index=0, committed_offset=1)
    committed = await send(
        broker,
        TXN_OFFSET_COMMIT,
        ALICE,
        **txn,
        group_id="g",
        topics=[commit_topic(name="orders", partitions=[partition])],
    )
    assert [p.error_code for t in committed.topics for p in t.partitions] == [E.GROUP_AUTHORIZATION_FAILED]
    described = await send(broker, DESCRIBE_TRANSACTIONS, ALICE, transactional_ids=["tx", "other"])
    assert [t.error_code for t in described.transaction_states] == [
        E.TRANSACTIONAL_ID_NOT_FOUND,  # WRITE implies DESCRIBE: found out it does not exist
        E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    ]
    assert (await send(broker, LIST_TRANSACTIONS, ALICE, state_filters=[], producer_id_filters=[])).error_code == E.NONE


async def test_the_other_topic_and_cluster_apis_refuse_with_their_codes(broker: Broker) -> None:
    epoch_topic = OFFSET_FOR_LEADER_EPOCH.Request.OffsetForLeaderTopic
    epochs = await send(
        broker,
        OFFSET_FOR_LEADER_EPOCH,
        ALICE,
        topics=[
            epoch_topic(topic="orders", partitions=[epoch_topic.OffsetForLeaderPartition(partition=0, leader_epoch=0)])
        ],
    )
    assert [p.error_code for p in epochs.topics[0].partitions] == [E.TOPIC_AUTHORIZATION_FAILED]
    await grant(broker, TOPIC, "orders", Op.DESCRIBE)
    pages = await send(
        broker,
        DESCRIBE_TOPIC_PARTITIONS,
        ALICE,
        topics=[DESCRIBE_TOPIC_PARTITIONS.Request.TopicRequest(name=n) for n in ("orders", "secret")],
        response_partition_limit=100,
    )
    assert [(t.name, t.error_code, t.topic_authorized_operations) for t in pages.topics] == [
        ("orders", E.NONE, 1 << Op.DESCRIBE),
        ("secret", E.TOPIC_AUTHORIZATION_FAILED, -(2**31)),
    ]
    everything = await send(broker, DESCRIBE_TOPIC_PARTITIONS, ALICE, topics=[], response_partition_limit=100)
    assert [t.name for t in everything.topics] == ["orders"]
    cluster_refusals = {
        "AlterPartitionReassignments": (await send(broker, ALTER_PARTITION_REASSIGNMENTS, ALICE, topics=[])).error_code,
        "ListPartitionReassignments": (await send(broker, LIST_PARTITION_REASSIGNMENTS, ALICE, topics=None)).error_code,
        "ElectLeaders": (await send(broker, ELECT_LEADERS, ALICE, topic_partitions=None)).error_code,
        "DescribeQuorum": (await send(broker, DESCRIBE_QUORUM, ALICE, topics=[])).error_code,
        "ListConfigResources": (await send(broker, LIST_CONFIG_RESOURCES, ALICE, resource_types=[])).error_code,
    }
    assert cluster_refusals == dict.fromkeys(cluster_refusals, E.CLUSTER_AUTHORIZATION_FAILED)
    log_dir = ALTER_REPLICA_LOG_DIRS.Request.AlterReplicaLogDir
    moved = await send(
        broker,
        ALTER_REPLICA_LOG_DIRS,
        ALICE,
        dirs=[
            log_dir(
                path=broker.config.storage_url, topics=[log_dir.AlterReplicaLogDirTopic(name="orders", partitions=[0])]
            )
        ],
    )
    assert [p.error_code for p in moved.results[0].partitions] == [E.CLUSTER_AUTHORIZATION_FAILED]
    await grant(broker, CLUSTER, CLUSTER_NAME, Op.ALTER)
    assert (await send(broker, LIST_PARTITION_REASSIGNMENTS, ALICE, topics=None)).error_code == E.NONE
    assert (await send(broker, ELECT_LEADERS, ALICE, topic_partitions=None)).error_code == E.NONE
