"""ShareGroupHeartbeat, ShareGroupDescribe, ShareFetch and ShareAcknowledge on an in-process broker.

Requests go through the codecs at v1, as a client's would. Each bad input says which Kafka error it
gets; the ACL checks are Kafka's: group READ and topic DESCRIBE for the heartbeat, group DESCRIBE for
describe, group READ and topic READ for fetching and acknowledging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.handlers import advertised_versions
from streamhouse.broker.share.partition import AcknowledgeType
from streamhouse.protocol.apis.alter_share_group_offsets import ALTER_SHARE_GROUP_OFFSETS
from streamhouse.protocol.apis.delete_groups import DELETE_GROUPS
from streamhouse.protocol.apis.delete_share_group_offsets import DELETE_SHARE_GROUP_OFFSETS
from streamhouse.protocol.apis.describe_configs import DESCRIBE_CONFIGS
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.describe_share_group_offsets import DESCRIBE_SHARE_GROUP_OFFSETS
from streamhouse.protocol.apis.incremental_alter_configs import INCREMENTAL_ALTER_CONFIGS
from streamhouse.protocol.apis.list_groups import LIST_GROUPS
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.apis.share_acknowledge import SHARE_ACKNOWLEDGE
from streamhouse.protocol.apis.share_fetch import SHARE_FETCH
from streamhouse.protocol.apis.share_group_describe import SHARE_GROUP_DESCRIBE
from streamhouse.protocol.apis.share_group_heartbeat import SHARE_GROUP_HEARTBEAT
from streamhouse.protocol.records import iter_batches
from tests.broker.inprocess import running_broker
from tests.broker.test_acl_handlers import ADMIN, ALICE, GROUP, TOPIC, E, Op, Peer, grant, produce_request, send
from tests.broker.test_acl_handlers import broker as acl_broker

ACCEPT, RELEASE, REJECT = AcknowledgeType.ACCEPT, AcknowledgeType.RELEASE, AcknowledgeType.REJECT
LOCK_MS = 400
GROUP_RESOURCE = 32  # Kafka's ConfigResource.Type GROUP

__all__ = ["acl_broker"]


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path, group_share_record_lock_duration_ms=LOCK_MS, num_partitions=1) as instance:
        yield instance


async def topic_id(broker: Broker, name: str) -> UUID:
    topic = await broker.topics.get(name)
    if topic is None:
        topic = await broker.topics.create(name, 1, {})
    return topic.topic_id


async def produce(broker: Broker, topic: str, count: int) -> None:
    for _ in range(count):
        response = await send(broker, PRODUCE, ADMIN, **produce_request(topic))
        assert response.responses[0].partition_responses[0].error_code == E.NONE


async def join(broker: Broker, topic: str, member: str, group: str = "g", who: Peer = ADMIN) -> Any:
    return await send(
        broker, SHARE_GROUP_HEARTBEAT, who, group_id=group, member_id=member, member_epoch=0,
        subscribed_topic_names=[topic],
    )  # fmt: skip


def ack_batch(first: int, last: int, kind: int) -> Any:
    return SHARE_FETCH.Request.FetchTopic.FetchPartition.AcknowledgementBatch(
        first_offset=first, last_offset=last, acknowledge_types=[kind]
    )


async def fetch(
    broker: Broker,
    tid: UUID,
    member: str,
    epoch: int,
    acks: list[Any] | None = None,
    group: str = "g",
    who: Peer = ADMIN,
    max_wait_ms: int = 0,
    max_records: int = 100,
) -> Any:
    topic = SHARE_FETCH.Request.FetchTopic
    return await send(
        broker, SHARE_FETCH, who, group_id=group, member_id=member, share_session_epoch=epoch,
        max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20, max_records=max_records, batch_size=100,
        topics=[topic(topic_id=tid, partitions=[
            topic.FetchPartition(partition_index=0, acknowledgement_batches=acks or [])
        ])],
        forgotten_topics_data=[],
    )  # fmt: skip


def acquired(response: Any) -> list[tuple[int, int, int]]:
    return [
        (a.first_offset, a.last_offset, a.delivery_count)
        for t in response.responses
        for p in t.partitions
        for a in p.acquired_records
    ]


def test_api_versions_advertise_the_share_apis_at_kafkas_versions() -> None:
    advertised = {key: (low, high) for key, low, high in advertised_versions()}
    assert {key: advertised.get(key) for key in (76, 77, 78, 79)} == {76: (1, 1), 77: (1, 1), 78: (1, 1), 79: (1, 1)}


async def test_members_join_are_described_and_share_every_partition(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    first, second = await join(broker, "jobs", "m1"), await join(broker, "jobs", "m2")
    assert (first.error_code, second.error_code) == (E.NONE, E.NONE)
    assert [(t.topic_id, t.partitions) for t in second.assignment.topic_partitions] == [(tid, [0])]
    described = await send(
        broker, SHARE_GROUP_DESCRIBE, ADMIN, group_ids=["g", "nope"], include_authorized_operations=False
    )
    group, missing = described.groups
    assert (group.group_state, group.assignor_name, sorted(m.member_id for m in group.members)) == (
        "Stable", "simple", ["m1", "m2"],
    )  # fmt: skip
    assert missing.error_code == E.GROUP_ID_NOT_FOUND
    left = await send(broker, SHARE_GROUP_HEARTBEAT, ADMIN, group_id="g", member_id="m1", member_epoch=-1)
    assert (left.error_code, left.member_epoch) == (E.NONE, -1)


async def test_heartbeat_bad_input_gets_kafkas_errors(broker: Broker) -> None:
    await topic_id(broker, "jobs")

    async def error(**fields: Any) -> int:
        values = {"group_id": "g", "member_id": "m", "member_epoch": 0, "subscribed_topic_names": ["jobs"]} | fields
        return int((await send(broker, SHARE_GROUP_HEARTBEAT, ADMIN, **values)).error_code)

    assert await error(group_id="") == E.INVALID_REQUEST
    assert await error(member_id="") == E.INVALID_REQUEST
    assert await error(subscribed_topic_names=None) == E.INVALID_REQUEST
    assert await error(member_epoch=-3) == E.INVALID_REQUEST
    assert await error(member_epoch=5) == E.UNKNOWN_MEMBER_ID
    assert await error() == E.NONE
    assert await error(member_epoch=7) == E.FENCED_MEMBER_EPOCH
    assert await error(member_id="other", member_epoch=3) == E.UNKNOWN_MEMBER_ID


async def test_two_members_split_records_and_acknowledgements_finish_them(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    await join(broker, "jobs", "m1")
    await join(broker, "jobs", "m2")
    assert acquired(await fetch(broker, tid, "m1", 0)) == []  # the group starts at the end (latest)
    assert acquired(await fetch(broker, tid, "m2", 0)) == []
    await produce(broker, "jobs", 6)
    one = await fetch(broker, tid, "m1", 1, max_records=4)
    two = await fetch(broker, tid, "m2", 1)
    assert (acquired(one), acquired(two)) == ([(0, 3, 1)], [(4, 5, 1)])
    records = one.responses[0].partitions[0].records
    assert [h.base_offset for h, _ in iter_batches(records)] == [0, 1, 2, 3]
    # m1 accepts 0-1 and releases 2-3; m2 rejects 4 and accepts 5: only 2-3 come again.
    released = await fetch(broker, tid, "m2", 2, acks=[ack_batch(4, 4, REJECT), ack_batch(5, 5, ACCEPT)])
    assert acquired(released) == []
    again = await fetch(broker, tid, "m1", 2, acks=[ack_batch(0, 1, ACCEPT), ack_batch(2, 3, RELEASE)])
    assert acquired(again) == [(2, 3, 2)]
    assert again.responses[0].partitions[0].acknowledge_error_code == E.NONE


async def test_an_expired_lock_hands_the_records_to_another_member(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    await fetch(broker, tid, "m1", 0)
    await fetch(broker, tid, "m2", 0)
    await produce(broker, "jobs", 3)
    assert acquired(await fetch(broker, tid, "m1", 1)) == [(0, 2, 1)]
    assert acquired(await fetch(broker, tid, "m2", 1)) == []
    # A long poll is woken by the expiry, not only by appends.
    assert acquired(await fetch(broker, tid, "m2", 2, max_wait_ms=5000)) == [(0, 2, 2)]
    late = await fetch(broker, tid, "m1", 2, acks=[ack_batch(0, 2, ACCEPT)])
    assert late.responses[0].partitions[0].acknowledge_error_code == E.INVALID_RECORD_STATE


async def test_a_long_poll_is_answered_by_an_append(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    await fetch(broker, tid, "m1", 0)
    waiting = asyncio.create_task(fetch(broker, tid, "m1", 1, max_wait_ms=10_000))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await produce(broker, "jobs", 1)
    assert acquired(await asyncio.wait_for(waiting, 5)) == [(0, 0, 1)]


async def test_share_sessions_and_acknowledgements_check_their_epochs(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    assert (await fetch(broker, tid, "m1", 1)).error_code == E.SHARE_SESSION_NOT_FOUND
    assert (await fetch(broker, tid, "m1", 0)).error_code == E.NONE
    assert (await fetch(broker, tid, "m1", 5)).error_code == E.INVALID_SHARE_SESSION_EPOCH
    ack = SHARE_ACKNOWLEDGE.Request.AcknowledgeTopic

    async def acknowledge(epoch: int, member: str = "m1") -> Any:
        return await send(
            broker, SHARE_ACKNOWLEDGE, ADMIN, group_id="g", member_id=member, share_session_epoch=epoch,
            topics=[ack(topic_id=tid, partitions=[ack.AcknowledgePartition(partition_index=0, acknowledgement_batches=[
                ack.AcknowledgePartition.AcknowledgementBatch(first_offset=0, last_offset=0, acknowledge_types=[ACCEPT])
            ])])],
        )  # fmt: skip

    assert (await acknowledge(0)).error_code == E.INVALID_SHARE_SESSION_EPOCH
    assert (await acknowledge(1, member="m9")).error_code == E.SHARE_SESSION_NOT_FOUND
    answer = await acknowledge(1)
    assert (answer.error_code, answer.responses[0].partitions[0].error_code) == (E.NONE, E.INVALID_RECORD_STATE)
    assert (await acknowledge(-1)).error_code == E.NONE
    assert (await acknowledge(3)).error_code == E.SHARE_SESSION_NOT_FOUND
    assert (await fetch(broker, tid, "", 0)).error_code == E.INVALID_REQUEST
    unknown = await fetch(broker, UUID(int=7), "m2", 0)
    assert unknown.responses[0].partitions[0].error_code == E.UNKNOWN_TOPIC_ID


async def test_acknowledgements_survive_a_restart(tmp_path: Path) -> None:
    settings = {"storage": f"file://{tmp_path / 'objects'}", "num_partitions": 1}
    async with running_broker(tmp_path, **settings) as broker:
        tid = await topic_id(broker, "jobs")
        await fetch(broker, tid, "m1", 0)
        await produce(broker, "jobs", 4)
        assert acquired(await fetch(broker, tid, "m1", 1)) == [(0, 3, 1)]
        await fetch(broker, tid, "m1", 2, acks=[ack_batch(0, 1, ACCEPT)], max_records=0)
    async with running_broker(tmp_path, **settings) as broker:
        # 0-1 were accepted; 2-3 were held by a lock that died with the broker.
        assert acquired(await fetch(broker, tid, "m2", 0)) == [(2, 3, 2)]


async def test_share_apis_check_acls_as_kafka(acl_broker: Broker) -> None:
    broker = acl_broker
    tid = await topic_id(broker, "orders")
    assert (await join(broker, "orders", "m", who=ALICE)).error_code == E.GROUP_AUTHORIZATION_FAILED
    await grant(broker, GROUP, "g", Op.READ)
    assert (await join(broker, "orders", "m", who=ALICE)).error_code == E.TOPIC_AUTHORIZATION_FAILED
    await grant(broker, TOPIC, "orders", Op.DESCRIBE)
    assert (await join(broker, "orders", "m", who=ALICE)).error_code == E.NONE
    assert (await join(broker, "orders", "m", group="hidden")).error_code == E.NONE
    described = await send(
        broker, SHARE_GROUP_DESCRIBE, ALICE, group_ids=["hidden", "g"], include_authorized_operations=True
    )
    assert [g.error_code for g in described.groups] == [E.GROUP_AUTHORIZATION_FAILED, E.NONE]  # READ implies DESCRIBE
    assert described.groups[1].authorized_operations == 1 << Op.READ | 1 << Op.DESCRIBE
    assert (await fetch(broker, tid, "m", 0, group="other", who=ALICE)).error_code == E.GROUP_AUTHORIZATION_FAILED
    denied = await fetch(broker, tid, "m", 0, who=ALICE)
    assert denied.responses[0].partitions[0].error_code == E.TOPIC_AUTHORIZATION_FAILED
    await grant(broker, TOPIC, "orders", Op.READ)
    allowed = await fetch(broker, tid, "m", 0, who=ALICE)
    assert allowed.error_code == E.NONE and allowed.responses == []


async def alter_group(broker: Broker, group: str, *changes: tuple[str, str | None, int], who: Peer = ADMIN) -> Any:
    resource = INCREMENTAL_ALTER_CONFIGS.Request.AlterConfigsResource
    configs = [resource.AlterableConfig(name=n, config_operation=op, value=v) for n, v, op in changes]
    answer = await send(
        broker, INCREMENTAL_ALTER_CONFIGS, who, validate_only=False,
        resources=[resource(resource_type=GROUP_RESOURCE, resource_name=group, configs=configs)],
    )  # fmt: skip
    return answer.responses[0]


async def group_configs(broker: Broker, group: str) -> dict[str, tuple[str, int]]:
    resource = DESCRIBE_CONFIGS.Request.DescribeConfigsResource
    answer = await send(
        broker, DESCRIBE_CONFIGS, ADMIN, include_synonyms=False, include_documentation=False,
        resources=[resource(resource_type=GROUP_RESOURCE, resource_name=group, configuration_keys=None)],
    )  # fmt: skip
    assert answer.results[0].error_code == E.NONE
    return {c.name: (c.value, c.config_source) for c in answer.results[0].configs}


async def test_group_configs_change_a_share_groups_behaviour(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    await produce(broker, "jobs", 2)  # before the group's first fetch: only "earliest" gets them
    set_ = 0
    answer = await alter_group(
        broker, "g", ("share.auto.offset.reset", "earliest", set_), ("share.delivery.count.limit", "2", set_)
    )
    assert answer.error_code == E.NONE
    described = await group_configs(broker, "g")
    assert described["share.auto.offset.reset"] == ("earliest", 8)  # DYNAMIC_GROUP_CONFIG
    assert described["share.record.lock.duration.ms"] == (str(LOCK_MS), 5)  # DEFAULT_CONFIG: the broker's
    assert acquired(await fetch(broker, tid, "m1", 0, acks=[])) == [(0, 1, 1)]
    assert acquired(await fetch(broker, tid, "m1", 1, acks=[ack_batch(0, 1, RELEASE)])) == [(0, 1, 2)]
    assert acquired(await fetch(broker, tid, "m1", 2, acks=[ack_batch(0, 1, RELEASE)])) == []  # archived at 2
    assert (await alter_group(broker, "g", ("share.auto.offset.reset", None, 1))).error_code == E.NONE
    assert (await group_configs(broker, "g"))["share.auto.offset.reset"] == ("latest", 5)


async def test_bad_group_configs_get_invalid_config(broker: Broker) -> None:
    for change in [
        ("share.delivery.count.limit", "1", 0),
        ("share.record.lock.duration.ms", "soon", 0),
        ("share.isolation.level", "serializable", 0),
        ("no.such.config", "1", 0),
        ("share.auto.offset.reset", "earliest", 2),  # APPEND: not a list
    ]:
        assert (await alter_group(broker, "g", change)).error_code == E.INVALID_CONFIG, change
    assert (await alter_group(broker, "g", ("share.auto.offset.reset", "earliest", 9))).error_code == E.INVALID_REQUEST


async def test_group_configs_need_alter_configs_on_the_group(acl_broker: Broker) -> None:
    change = ("share.delivery.count.limit", "3", 0)
    assert (await alter_group(acl_broker, "g", change, who=ALICE)).error_code == E.GROUP_AUTHORIZATION_FAILED
    await grant(acl_broker, GROUP, "g", Op.ALTER_CONFIGS)
    assert (await alter_group(acl_broker, "g", change, who=ALICE)).error_code == E.NONE


async def test_share_groups_are_listed_described_as_not_classic_and_deleted_when_empty(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    await join(broker, "jobs", "m1", group="queue")
    await fetch(broker, tid, "m1", 0, group="queue")

    async def listed(**filters: Any) -> list[tuple[str, str, str]]:
        answer = await send(broker, LIST_GROUPS, ADMIN, **filters)
        return [(g.group_id, g.group_state, g.group_type) for g in answer.groups]

    assert await listed(states_filter=[], types_filter=["share"]) == [("queue", "Stable", "share")]
    assert await listed(states_filter=["empty"], types_filter=[]) == []
    assert await listed(states_filter=[], types_filter=["classic"]) == []
    described = await send(broker, DESCRIBE_GROUPS, ADMIN, groups=["queue"], include_authorized_operations=False)
    assert described.groups[0].error_code == E.GROUP_ID_NOT_FOUND

    async def delete() -> int:
        answer = await send(broker, DELETE_GROUPS, ADMIN, groups_names=["queue"])
        return int(answer.results[0].error_code)

    assert await delete() == E.NON_EMPTY_GROUP
    await send(broker, SHARE_GROUP_HEARTBEAT, ADMIN, group_id="queue", member_id="m1", member_epoch=-1)
    assert await listed(states_filter=["Empty"], types_filter=[]) == [("queue", "Empty", "share")]
    assert await broker.metadata.share_states.list_share_group_ids() == ["queue"]
    assert await delete() == E.NONE
    assert await broker.metadata.share_states.list_share_group_ids() == []
    assert await listed(states_filter=[], types_filter=[]) == []
    assert await delete() == E.GROUP_ID_NOT_FOUND


async def test_a_restarted_broker_lists_stored_share_groups(tmp_path: Path) -> None:
    async with running_broker(tmp_path) as broker:
        tid = await topic_id(broker, "jobs")
        await fetch(broker, tid, "m1", 0, group="queue")
    async with running_broker(tmp_path) as broker:
        answer = await send(broker, LIST_GROUPS, ADMIN, states_filter=[], types_filter=[])
        assert [(g.group_id, g.group_state, g.group_type) for g in answer.groups] == [("queue", "Empty", "share")]


async def describe_offsets(broker: Broker, group: str, topics: list[Any] | None, version: int = 1) -> Any:
    request_group = DESCRIBE_SHARE_GROUP_OFFSETS.Request.DescribeShareGroupOffsetsRequestGroup
    answer = await send(
        broker, DESCRIBE_SHARE_GROUP_OFFSETS, ADMIN, version, groups=[request_group(group_id=group, topics=topics)]
    )
    return answer.groups[0]


async def test_share_group_offsets_are_described_altered_and_deleted(broker: Broker) -> None:
    tid = await topic_id(broker, "jobs")
    await join(broker, "jobs", "m1")
    await fetch(broker, tid, "m1", 0)
    await produce(broker, "jobs", 5)
    await fetch(broker, tid, "m1", 1, max_records=3)
    await fetch(broker, tid, "m1", 2, acks=[ack_batch(0, 0, ACCEPT), ack_batch(2, 2, ACCEPT)], max_records=0)
    topic = (
        DESCRIBE_SHARE_GROUP_OFFSETS.Request.DescribeShareGroupOffsetsRequestGroup.DescribeShareGroupOffsetsRequestTopic
    )
    described = await describe_offsets(broker, "g", None)
    assert [(t.topic_name, t.topic_id) for t in described.topics] == [("jobs", tid)]
    partition = described.topics[0].partitions[0]
    assert (partition.start_offset, partition.lag, partition.error_code) == (1, 3, E.NONE)  # 1, 3, 4 to go
    v0 = await describe_offsets(broker, "g", [topic(topic_name="jobs", partitions=[0, 5])], version=0)
    assert [(p.start_offset, p.error_code) for p in v0.topics[0].partitions] == [
        (1, 0),
        (-1, E.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert (await describe_offsets(broker, "nope", None)).error_code == E.GROUP_ID_NOT_FOUND

    alter_topic = ALTER_SHARE_GROUP_OFFSETS.Request.AlterShareGroupOffsetsRequestTopic
    change = [alter_topic(topic_name="jobs", partitions=[alter_topic.AlterShareGroupOffsetsRequestPartition(0, 4)])]
    altered = await send(broker, ALTER_SHARE_GROUP_OFFSETS, ADMIN, group_id="g", topics=change)
    assert altered.error_code == E.NON_EMPTY_GROUP
    await send(broker, SHARE_GROUP_HEARTBEAT, ADMIN, group_id="g", member_id="m1", member_epoch=-1)
    altered = await send(broker, ALTER_SHARE_GROUP_OFFSETS, ADMIN, group_id="g", topics=change)
    assert (altered.error_code, altered.responses[0].partitions[0].error_code) == (E.NONE, E.NONE)
    assert (await describe_offsets(broker, "g", None)).topics[0].partitions[0].start_offset == 4
    assert acquired(await fetch(broker, tid, "m2", 0)) == [(4, 4, 1)]

    delete_topic = DELETE_SHARE_GROUP_OFFSETS.Request.DeleteShareGroupOffsetsRequestTopic
    deleted = await send(
        broker, DELETE_SHARE_GROUP_OFFSETS, ADMIN, group_id="g",
        topics=[delete_topic(topic_name="jobs"), delete_topic(topic_name="missing")],
    )  # fmt: skip
    assert [(r.topic_name, r.error_code) for r in deleted.responses] == [
        ("jobs", E.NONE), ("missing", E.UNKNOWN_TOPIC_OR_PARTITION),
    ]  # fmt: skip
    assert (await describe_offsets(broker, "g", None)).topics == []


async def test_share_group_offsets_check_acls_as_kafka(acl_broker: Broker) -> None:
    broker = acl_broker
    await join(broker, "orders", "m", group="g")
    await send(broker, SHARE_GROUP_HEARTBEAT, ADMIN, group_id="g", member_id="m", member_epoch=-1)
    request_group = DESCRIBE_SHARE_GROUP_OFFSETS.Request.DescribeShareGroupOffsetsRequestGroup
    topic = request_group.DescribeShareGroupOffsetsRequestTopic(topic_name="orders", partitions=[0])

    async def described() -> tuple[int, list[int]]:
        answer = await send(
            broker, DESCRIBE_SHARE_GROUP_OFFSETS, ALICE, groups=[request_group(group_id="g", topics=[topic])]
        )
        group = answer.groups[0]
        return group.error_code, [p.error_code for t in group.topics for p in t.partitions]

    assert await described() == (E.GROUP_AUTHORIZATION_FAILED, [])
    await grant(broker, GROUP, "g", Op.DESCRIBE)
    assert await described() == (E.NONE, [E.TOPIC_AUTHORIZATION_FAILED])
    await grant(broker, TOPIC, "orders", Op.DESCRIBE)
    assert await described() == (E.NONE, [E.NONE])
    deleted = await send(broker, DELETE_SHARE_GROUP_OFFSETS, ALICE, group_id="g", topics=[])
    assert deleted.error_code == E.GROUP_AUTHORIZATION_FAILED
    altered = await send(broker, ALTER_SHARE_GROUP_OFFSETS, ALICE, group_id="g", topics=[])
    assert altered.error_code == E.GROUP_AUTHORIZATION_FAILED


async def test_share_metrics_count_per_group_with_bounded_labels(tmp_path: Path) -> None:
    async with running_broker(tmp_path, metrics=True, group_share_record_lock_duration_ms=LOCK_MS) as broker:
        tid = await topic_id(broker, "jobs")
        await fetch(broker, tid, "m1", 0, group="queue")
        await produce(broker, "jobs", 4)
        await fetch(broker, tid, "m1", 1, group="queue", max_records=3)
        await fetch(
            broker, tid, "m1", 2, group="queue", max_records=1,
            acks=[ack_batch(0, 0, ACCEPT), ack_batch(1, 1, RELEASE), ack_batch(2, 2, REJECT)],
        )  # fmt: skip
        assert broker.metrics is not None
        text = (await broker.metrics.render()).decode()
        samples = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("streamhouse_share_records")
        }
        assert samples == {
            'streamhouse_share_records{share_group="queue",state="available"}': 0.0,  # offset 3 is past the window
            'streamhouse_share_records{share_group="queue",state="acquired"}': 1.0,  # offset 1, again
            'streamhouse_share_records_acquired_total{share_group="queue"}': 4.0,
            'streamhouse_share_records_redelivered_total{share_group="queue"}': 1.0,
            'streamhouse_share_records_archived_total{share_group="queue"}': 1.0,
        }


async def test_the_simple_assignor_spreads_partitions_and_shares_them_past_one_member_each(tmp_path: Path) -> None:
    async with running_broker(tmp_path) as broker:
        tid = (await broker.topics.create("four", 4, {})).topic_id

        def owners() -> dict[str, list[int]]:
            members = broker.share_groups.groups["g"].members.values()
            return {m.member_id: sorted(m.assigned[tid]) for m in members}

        await join(broker, "four", "a")
        answer = await join(broker, "four", "b")
        assert [(t.topic_id, t.partitions) for t in answer.assignment.topic_partitions] == [(tid, [1, 3])]
        assert owners() == {"a": [0, 2], "b": [1, 3]}
        for member in "cdef":
            await join(broker, "four", member)
        assert owners() == {"a": [0], "b": [1], "c": [2], "d": [3], "e": [0], "f": [1]}
