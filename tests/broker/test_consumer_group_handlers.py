"""The KIP-848 consumer group APIs against a real Broker: ConsumerGroupHeartbeat, ConsumerGroupDescribe,
and what OffsetCommit/OffsetFetch v9, ListGroups v5, DescribeGroups v6 and JoinGroup do with consumer groups.

Requests and responses go through the codecs (tests/broker/test_admin_handlers.call).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from streamhouse.broker.app import Broker
from streamhouse.protocol import consumer_protocol
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.consumer_group_describe import CONSUMER_GROUP_DESCRIBE
from streamhouse.protocol.apis.consumer_group_heartbeat import CONSUMER_GROUP_HEARTBEAT
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.heartbeat import HEARTBEAT
from streamhouse.protocol.apis.join_group import JOIN_GROUP
from streamhouse.protocol.apis.list_groups import LIST_GROUPS
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.offset_delete import OFFSET_DELETE
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.apis.sync_group import SYNC_GROUP
from streamhouse.protocol.errors import ErrorCode
from tests.broker.inprocess import running_broker
from tests.broker.test_group_handlers import send

E = ErrorCode
HB = CONSUMER_GROUP_HEARTBEAT
Owned = dict[UUID, set[int]]


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path, group_consumer_heartbeat_interval_ms=700) as instance:
        yield instance


def partitions(owned: Owned) -> list[Any]:
    return [HB.Request.TopicPartitions(topic_id=t, partitions=sorted(p)) for t, p in sorted(owned.items())]


async def join(broker: Broker, group: str, member: str, topics: list[str] | None = None, **fields: Any) -> Any:
    subscription: dict[str, Any] = {"subscribed_topic_names": topics} if topics is not None else {}
    return await send(
        broker, HB, 1, group_id=group, member_id=member, member_epoch=0, rebalance_timeout_ms=30_000,
        topic_partitions=[], **subscription, **fields,
    )  # fmt: skip


async def beat(broker: Broker, group: str, member: str, epoch: int, owned: Owned | None = None, **fields: Any) -> Any:
    body = {"topic_partitions": partitions(owned)} if owned is not None else {}
    return await send(broker, HB, 1, group_id=group, member_id=member, member_epoch=epoch, **body, **fields)


def assigned(response: Any) -> Owned:
    assert response.assignment is not None
    return {tp.topic_id: set(tp.partitions) for tp in response.assignment.topic_partitions}


def count(owned: Owned) -> int:
    return sum(len(p) for p in owned.values())


async def test_api_versions_advertises_68_and_69_and_the_kip_848_versions(broker: Broker) -> None:
    response = await send(broker, API_VERSIONS, 3)
    served = {entry.api_key: (entry.min_version, entry.max_version) for entry in response.api_keys}
    assert served[68] == (0, 1) and served[69] == (0, 1)
    assert served[OFFSET_COMMIT.key][1] == 9 and served[OFFSET_FETCH.key][1] == 9 and served[LIST_GROUPS.key][1] == 5


async def test_a_second_member_gets_partitions_only_once_the_first_revoked_them(broker: Broker) -> None:
    topic = await broker.topics.create("orders", 6, {})
    first = await join(broker, "g", "m1", ["orders"])
    assert (first.error_code, first.member_id, first.member_epoch, first.heartbeat_interval_ms) == (0, "m1", 1, 700)
    assert assigned(first) == {topic.topic_id: set(range(6))}

    second = await join(broker, "g", "m2", ["orders"])
    assert second.member_epoch == 2  # the group epoch: its target is half, all still owned by m1
    assert assigned(second) == {}

    # m1, still at epoch 1, is told to give up three partitions; it keeps its epoch until it does.
    revoke = await beat(broker, "g", "m1", 1, {topic.topic_id: set(range(6))})
    kept = assigned(revoke)
    assert (revoke.member_epoch, count(kept)) == (1, 3)
    still = await beat(broker, "g", "m2", 2, {})
    assert still.assignment is None and still.member_epoch == 2  # nothing released yet

    done = await beat(broker, "g", "m1", 1, kept)
    assert (done.member_epoch, done.assignment) == (2, None)
    given = await beat(broker, "g", "m2", 2, {})
    assert assigned(given) == {topic.topic_id: set(range(6)) - kept[topic.topic_id]}

    described = await send(broker, CONSUMER_GROUP_DESCRIBE, 1, group_ids=["g"])
    group = described.groups[0]
    assert (group.error_code, group.group_state, group.group_epoch, group.assignment_epoch) == (0, "Stable", 2, 2)
    assert group.assignor_name == "uniform"
    assert sorted((m.member_id, m.member_epoch, m.member_type) for m in group.members) == [("m1", 2, 1), ("m2", 2, 1)]
    names = {tp.topic_name for m in group.members for tp in m.assignment.topic_partitions}
    assert names == {"orders"}


async def test_epochs_the_member_was_never_given_are_fenced(broker: Broker) -> None:
    await broker.topics.create("fenced", 2, {})
    joined = await join(broker, "g", "m1", ["fenced"])
    assert (await beat(broker, "g", "m1", joined.member_epoch + 1)).error_code == E.FENCED_MEMBER_EPOCH
    assert (await beat(broker, "g", "nobody", 1)).error_code == E.UNKNOWN_MEMBER_ID
    assert (await beat(broker, "no-such-group", "m1", 1)).error_code == E.UNKNOWN_MEMBER_ID
    await join(broker, "g", "m2", ["fenced"])
    kept = assigned(await beat(broker, "g", "m1", 1, assigned(joined)))  # revokes one partition
    moved = await beat(broker, "g", "m1", 1, kept)
    assert moved.member_epoch == 2
    # Its previous epoch is still accepted while it owns no more than it is assigned, else fenced.
    assert (await beat(broker, "g", "m1", 1, kept)).error_code == E.NONE
    assert (await beat(broker, "g", "m1", 1, assigned(joined))).error_code == E.FENCED_MEMBER_EPOCH


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"group_id": ""}, E.INVALID_REQUEST),
        ({"member_id": ""}, E.INVALID_REQUEST),
        ({"rebalance_timeout_ms": -1}, E.INVALID_REQUEST),
        ({"subscribed_topic_names": None}, E.INVALID_REQUEST),
        ({"topic_partitions": None}, E.INVALID_REQUEST),
        ({"member_epoch": -3}, E.INVALID_REQUEST),
        ({"member_epoch": -2}, E.INVALID_REQUEST),  # a static leave without instance id
        ({"subscribed_topic_regex": "orders-(", "subscribed_topic_names": None}, E.INVALID_REGULAR_EXPRESSION),
        ({"server_assignor": "sticky"}, E.UNSUPPORTED_ASSIGNOR),
    ],
)
async def test_bad_heartbeats_get_kafkas_errors(broker: Broker, fields: dict[str, Any], error: ErrorCode) -> None:
    body = {
        "group_id": "g", "member_id": "m", "member_epoch": 0, "rebalance_timeout_ms": 1000,
        "subscribed_topic_names": ["t"], "topic_partitions": [],
    } | fields  # fmt: skip
    response = await send(broker, HB, 1, **body)
    assert response.error_code == error
    assert response.error_message


async def test_version_0_members_are_named_by_the_coordinator(broker: Broker) -> None:
    response = await send(
        broker, HB, 0, group_id="v0", member_id="", member_epoch=0, rebalance_timeout_ms=1000,
        subscribed_topic_names=["t"], topic_partitions=[],
    )  # fmt: skip
    assert response.error_code == 0 and uuid.UUID(response.member_id)


async def test_a_static_member_returns_under_a_new_member_id_and_keeps_its_partitions(broker: Broker) -> None:
    topic = await broker.topics.create("static", 4, {})
    first = await join(broker, "g", "a-1", ["static"], instance_id="a")
    other = await join(broker, "g", "b-1", ["static"])
    taken = await join(broker, "g", "a-2", ["static"], instance_id="a")
    assert taken.error_code == E.UNRELEASED_INSTANCE_ID
    assert (await beat(broker, "g", "b-1", other.member_epoch, instance_id="a")).error_code == E.FENCED_INSTANCE_ID

    kept = assigned(await beat(broker, "g", "a-1", first.member_epoch, assigned(first)))
    settled = await beat(broker, "g", "a-1", first.member_epoch, kept)
    left = await beat(broker, "g", "a-1", -2, instance_id="a")
    assert (left.error_code, left.member_epoch) == (0, -2)

    back = await join(broker, "g", "a-2", ["static"], instance_id="a")
    assert back.error_code == 0 and back.member_epoch == settled.member_epoch
    assert assigned(back) == kept and count(kept) == 2
    group = (await send(broker, CONSUMER_GROUP_DESCRIBE, 0, group_ids=["g"])).groups[0]
    assert sorted(m.member_id for m in group.members) == ["a-2", "b-1"]
    assert topic.topic_id in kept


async def test_a_leaving_member_is_removed_and_the_others_get_its_partitions(broker: Broker) -> None:
    topic = await broker.topics.create("leave", 2, {})
    first = await join(broker, "g", "m1", ["leave"])
    second = await join(broker, "g", "m2", ["leave"])
    kept = assigned(await beat(broker, "g", "m1", first.member_epoch, assigned(first)))
    await beat(broker, "g", "m1", 1, kept)
    left = await beat(broker, "g", "m2", -1)
    assert (left.error_code, left.member_epoch) == (0, -1)
    whole = await beat(broker, "g", "m1", 2, kept)
    assert assigned(whole) == {topic.topic_id: {0, 1}} and whole.member_epoch == 3
    assert second.member_epoch == 2


async def test_a_regex_subscription_picks_up_a_topic_created_later(broker: Broker) -> None:
    first_topic = await broker.topics.create("metrics-a", 1, {})
    joined = await join(broker, "g", "m", None, subscribed_topic_regex="metrics-.*")
    assert assigned(joined) == {}  # as Kafka, a new regex is resolved after the heartbeat that brought it
    joined = await beat(broker, "g", "m", joined.member_epoch, {})
    assert assigned(joined) == {first_topic.topic_id: {0}}
    await broker.topics.create("other", 1, {})
    later = await broker.topics.create("metrics-b", 2, {})
    response = await beat(broker, "g", "m", joined.member_epoch, assigned(joined))
    assert assigned(response) == {first_topic.topic_id: {0}, later.topic_id: {0, 1}}
    assert response.member_epoch == joined.member_epoch + 1


async def test_range_assignor_when_the_member_asks_for_it(broker: Broker) -> None:
    topic = await broker.topics.create("ranged", 5, {})
    first = await join(broker, "g", "m1", ["ranged"], server_assignor="range")
    await join(broker, "g", "m2", ["ranged"], server_assignor="range")
    response = await beat(broker, "g", "m1", first.member_epoch, assigned(first))
    assert assigned(response) == {topic.topic_id: {0, 1, 2}}
    group = (await send(broker, CONSUMER_GROUP_DESCRIBE, 0, group_ids=["g"])).groups[0]
    assert group.assignor_name == "range"


async def test_offset_commit_and_fetch_check_the_member_epoch(broker: Broker) -> None:
    await broker.topics.create("commits", 1, {})
    joined = await join(broker, "g", "m", ["commits"])
    await join(broker, "g", "other", ["commits"])  # the group epoch moves on; m stays at its epoch

    async def commit(member: str, epoch: int, name: str = "commits") -> int:
        topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
        partition = topic.OffsetCommitRequestPartition(partition_index=0, committed_offset=5, committed_metadata="")
        response = await send(
            broker, OFFSET_COMMIT, 9, group_id="g", generation_id_or_member_epoch=epoch, member_id=member,
            topics=[topic(name=name, partitions=[partition])],
        )  # fmt: skip
        return int(response.topics[0].partitions[0].error_code)

    assert await commit("m", joined.member_epoch + 1) == E.FENCED_MEMBER_EPOCH
    assert await commit("nobody", 1) == E.UNKNOWN_MEMBER_ID
    assert await commit("", -1) == E.UNKNOWN_MEMBER_ID  # the group has members
    assert await commit("m", -1) == E.STALE_MEMBER_EPOCH
    assert await commit("m", joined.member_epoch) == E.NONE
    other = (await send(broker, CONSUMER_GROUP_DESCRIBE, 0, group_ids=["g"])).groups[0]
    assert {m.member_id: m.member_epoch for m in other.members}["other"] == 2
    assert await commit("other", 1) == E.STALE_MEMBER_EPOCH

    async def fetch(member: str | None, epoch: int) -> tuple[int, list[int]]:
        group = OFFSET_FETCH.Request.OffsetFetchRequestGroup(
            group_id="g", member_id=member, member_epoch=epoch, topics=None
        )
        answer = (await send(broker, OFFSET_FETCH, 9, groups=[group])).groups[0]
        return answer.error_code, [p.committed_offset for t in answer.topics for p in t.partitions]

    assert await fetch("m", joined.member_epoch) == (E.NONE, [5])
    assert await fetch(None, -1) == (E.NONE, [5])
    assert await fetch("m", joined.member_epoch + 7) == (E.STALE_MEMBER_EPOCH, [])
    assert await fetch("nobody", 1) == (E.UNKNOWN_MEMBER_ID, [])

    # OffsetDelete: only the offsets of topics the members do not subscribe to.
    await broker.topics.create("unread", 1, {})
    assert await commit("m", joined.member_epoch, "unread") == E.NONE
    deleting = [OFFSET_DELETE.Request.OffsetDeleteRequestTopic(name=name, partitions=[
        OFFSET_DELETE.Request.OffsetDeleteRequestTopic.OffsetDeleteRequestPartition(partition_index=0)])
        for name in ("commits", "unread")]  # fmt: skip
    deleted = await send(broker, OFFSET_DELETE, 0, group_id="g", topics=deleting)
    assert deleted.error_code == 0
    assert [t.partitions[0].error_code for t in deleted.topics] == [E.GROUP_SUBSCRIBED_TO_TOPIC, E.NONE]


async def test_list_describe_and_join_treat_consumer_groups_as_kafka(broker: Broker) -> None:
    await broker.topics.create("kinds", 1, {})
    await join(broker, "modern", "m", ["kinds"])
    await send(broker, OFFSET_COMMIT, 9, group_id="classic", generation_id_or_member_epoch=-1, member_id="", topics=[])
    listed = await send(broker, LIST_GROUPS, 5, types_filter=["Consumer"])
    assert [(g.group_id, g.group_type, g.protocol_type, g.group_state) for g in listed.groups] == [
        ("modern", "consumer", "consumer", "Stable")
    ]
    every = await send(broker, LIST_GROUPS, 5)
    assert {g.group_id: g.group_type for g in every.groups}.get("modern") == "consumer"

    old = (await send(broker, DESCRIBE_GROUPS, 5, groups=["modern"])).groups[0]
    assert (old.error_code, old.group_state) == (E.NONE, "Dead")  # as Kafka before v6
    described = (await send(broker, DESCRIBE_GROUPS, 6, groups=["modern"])).groups[0]
    assert (
        described.error_code == E.GROUP_ID_NOT_FOUND
        and described.error_message == "Group modern is not a classic group."
    )
    for unknown in ("classic", "never"):
        answer = (await send(broker, CONSUMER_GROUP_DESCRIBE, 0, group_ids=[unknown])).groups[0]
        assert answer.error_code == E.GROUP_ID_NOT_FOUND, unknown


async def test_a_classic_member_joins_a_consumer_group_which_turns_classic_when_the_last_consumer_leaves(
    broker: Broker,
) -> None:
    topic = await broker.topics.create("mixed", 2, {})
    modern = await join(broker, "mixed", "modern", ["mixed"])
    subscription = consumer_protocol.encode(
        consumer_protocol.SUBSCRIPTION, consumer_protocol.Subscription(topics=["mixed"])
    )
    protocol = JOIN_GROUP.Request.JoinGroupRequestProtocol(name="range", metadata=subscription)
    joined = await send(
        broker, JOIN_GROUP, 9, group_id="mixed", session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
        member_id="", protocol_type="consumer", protocols=[protocol],
    )  # fmt: skip
    assert (joined.error_code, joined.generation_id, joined.protocol_name) == (0, 2, "range")
    member, generation = joined.member_id, joined.generation_id
    synced = await send(broker, SYNC_GROUP, 5, group_id="mixed", generation_id=generation, member_id=member,
                        protocol_type="consumer", protocol_name="range", assignments=[])  # fmt: skip
    _, assignment = consumer_protocol.decode(consumer_protocol.ASSIGNMENT, synced.assignment)
    assert synced.error_code == 0 and assignment.assigned_partitions == []  # m still owns both partitions
    beat_error = await send(broker, HEARTBEAT, 4, group_id="mixed", generation_id=generation, member_id=member)
    assert beat_error.error_code == E.REBALANCE_IN_PROGRESS  # not at its target yet: join again
    described = (await send(broker, CONSUMER_GROUP_DESCRIBE, 1, group_ids=["mixed"])).groups[0]
    assert sorted((m.member_id == member, m.member_type) for m in described.members) == [(False, 1), (True, 0)]
    stale = await send(broker, HEARTBEAT, 4, group_id="mixed", generation_id=generation + 5, member_id=member)
    assert stale.error_code == E.ILLEGAL_GENERATION

    await beat(broker, "mixed", "modern", -1)
    listed = await send(broker, LIST_GROUPS, 5, types_filter=["classic"])
    assert [(g.group_id, g.group_type) for g in listed.groups] == [("mixed", "classic")]
    gone = await send(broker, HEARTBEAT, 4, group_id="mixed", generation_id=generation, member_id=member)
    assert gone.error_code == E.UNKNOWN_MEMBER_ID  # it joins the classic group again
    assert modern.member_epoch == 1 and topic.partitions == 2


async def test_a_silent_member_is_removed_after_its_session(tmp_path: Path) -> None:
    async with running_broker(tmp_path, group_consumer_session_timeout_ms=300) as broker:
        await broker.topics.create("silent", 2, {})
        await join(broker, "g", "quiet", ["silent"])
        await asyncio.sleep(0.6)
        group = (await send(broker, CONSUMER_GROUP_DESCRIBE, 0, group_ids=["g"])).groups[0]
        assert (group.group_state, group.members, group.group_epoch) == ("Empty", [], 2)


async def test_another_broker_on_the_same_store_continues_the_group(tmp_path: Path) -> None:
    async with running_broker(tmp_path) as first:
        topic = await first.topics.create("takeover", 3, {})
        joined = await join(first, "g", "m1", ["takeover"])
        await first.coordinator.flush()
    async with running_broker(tmp_path) as second:
        group = (await send(second, CONSUMER_GROUP_DESCRIBE, 0, group_ids=["g"])).groups[0]
        assert [(m.member_id, m.member_epoch) for m in group.members] == [("m1", joined.member_epoch)]
        response = await beat(second, "g", "m1", joined.member_epoch, {topic.topic_id: {0, 1, 2}})
        assert (response.error_code, response.member_epoch) == (0, joined.member_epoch)
