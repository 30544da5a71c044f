"""The group and offset handlers against a real Broker, at every version they serve.

Requests and responses go through the codecs (see test_admin_handlers.call), so what a version
cannot carry fails here as on the wire. The state machine itself is tested in test_coordinator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.app import Broker
from streamhouse.broker.security.listeners import Listener
from streamhouse.metadata.base import CommittedOffset
from streamhouse.protocol.apis.api_versions import API_VERSIONS
from streamhouse.protocol.apis.delete_groups import DELETE_GROUPS
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.find_coordinator import FIND_COORDINATOR
from streamhouse.protocol.apis.heartbeat import HEARTBEAT
from streamhouse.protocol.apis.join_group import JOIN_GROUP
from streamhouse.protocol.apis.leave_group import LEAVE_GROUP
from streamhouse.protocol.apis.list_groups import LIST_GROUPS
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.offset_delete import OFFSET_DELETE
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.apis.sync_group import SYNC_GROUP
from streamhouse.protocol.codec import ApiCodec
from streamhouse.protocol.errors import ErrorCode
from tests.broker.inprocess import PLAINTEXT_LISTENER, running_broker
from tests.broker.test_admin_handlers import call, versions

E = ErrorCode
GROUP_APIS = [OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP]
GROUP_APIS += [DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE]


@dataclass
class Peer:
    """What the group and produce handlers read of a connection: the client's address, listener and produce lock."""

    peer: str = "10.1.2.3:45678"
    peer_host: str = "10.1.2.3"
    listener: Listener = PLAINTEXT_LISTENER
    principal: str = "User:ANONYMOUS"
    produce_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with running_broker(tmp_path, group_initial_rebalance_delay_ms=0) as instance:
        yield instance


async def send(broker: Broker, api: ApiCodec, version: int, **fields: Any) -> Any:
    return await call(broker, api, version, api.Request(**fields), Peer())


async def test_api_versions_advertises_the_group_apis(broker: Broker) -> None:
    response = await send(broker, API_VERSIONS, 3)
    served = {entry.api_key: (entry.min_version, entry.max_version) for entry in response.api_keys}
    assert {api.key: served[api.key] for api in GROUP_APIS} == {
        api.key: (api.min_version, api.max_version) for api in GROUP_APIS
    }


# -- FindCoordinator ------------------------------------------------------------------


@pytest.mark.parametrize("version", versions(FIND_COORDINATOR))
async def test_find_coordinator_names_this_broker_for_groups_and_transactions(broker: Broker, version: int) -> None:
    me = (broker.config.broker_id, "127.0.0.1", broker.port)
    key_types = [0, 1] if version >= 1 else [0]
    for key_type in key_types:
        if version >= 4:
            response = await send(broker, FIND_COORDINATOR, version, key_type=key_type, coordinator_keys=["a", "b"])
            found = [(c.key, c.error_code, (c.node_id, c.host, c.port)) for c in response.coordinators]
            assert found == [("a", E.NONE, me), ("b", E.NONE, me)]
        else:
            response = await send(broker, FIND_COORDINATOR, version, key="a", key_type=key_type)
            assert (response.error_code, (response.node_id, response.host, response.port)) == (E.NONE, me)


@pytest.mark.parametrize("version", [1, 4])
async def test_find_coordinator_refusals(broker: Broker, version: int) -> None:
    async def ask(key_type: int) -> tuple[int, tuple[int, str, int]]:
        if version >= 4:
            response = await send(broker, FIND_COORDINATOR, version, key_type=key_type, coordinator_keys=["g"])
            [found] = response.coordinators
        else:
            found = await send(broker, FIND_COORDINATOR, version, key="g", key_type=key_type)
        return found.error_code, (found.node_id, found.host, found.port)

    assert await ask(2) == (E.INVALID_REQUEST, (-1, "", -1))  # share groups: not served
    await broker.coordinator.stop()
    assert await ask(0) == (E.COORDINATOR_NOT_AVAILABLE, (-1, "", -1))


# -- membership: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, at every version ---------


def protocols() -> list[Any]:
    return [JOIN_GROUP.Request.JoinGroupRequestProtocol(name="range", metadata=b"subscription")]


async def join(broker: Broker, version: int, member_id: str = "", session: int = 10_000) -> Any:
    return await send(
        broker,
        JOIN_GROUP,
        version,
        group_id="g",
        session_timeout_ms=session,
        rebalance_timeout_ms=20_000 if version >= 1 else -1,
        member_id=member_id,
        protocol_type="consumer",
        protocols=protocols(),
    )


@pytest.mark.parametrize("version", versions(JOIN_GROUP))
async def test_a_member_joins_syncs_heartbeats_and_leaves(broker: Broker, version: int) -> None:
    sync_version, heartbeat_version, leave_version = min(version, 5), min(version, 4), min(version, 5)
    joined = await join(broker, version)
    if version >= 4:
        assert joined.error_code == E.MEMBER_ID_REQUIRED and joined.member_id.startswith("admin-test-")
        joined = await join(broker, version, joined.member_id)
    member_id = joined.member_id
    assert (joined.error_code, joined.generation_id, joined.leader) == (E.NONE, 1, member_id)
    assert joined.protocol_name == "range"
    assert joined.protocol_type == ("consumer" if version >= 7 else None)
    assert [(m.member_id, m.metadata) for m in joined.members] == [(member_id, b"subscription")]
    rebalance_timeout = broker.coordinator.groups["g"].members[member_id].rebalance_timeout_ms
    assert rebalance_timeout == (20_000 if version >= 1 else 10_000)  # v0: the session timeout

    typed = {"protocol_type": "consumer", "protocol_name": "range"} if sync_version >= 5 else {}
    assignment = SYNC_GROUP.Request.SyncGroupRequestAssignment(member_id=member_id, assignment=b"partitions")
    fields = {"group_id": "g", "generation_id": 1, "member_id": member_id, "assignments": [assignment]}
    synced = await send(broker, SYNC_GROUP, sync_version, **fields, **typed)
    assert (synced.error_code, synced.assignment) == (E.NONE, b"partitions")
    if sync_version >= 5:
        assert (synced.protocol_type, synced.protocol_name) == ("consumer", "range")
        untyped = await send(broker, SYNC_GROUP, sync_version, **fields)
        assert untyped.error_code == E.INCONSISTENT_GROUP_PROTOCOL  # both are mandatory from v5

    beat = await send(broker, HEARTBEAT, heartbeat_version, group_id="g", generation_id=1, member_id=member_id)
    assert beat.error_code == E.NONE
    described = (await send(broker, DESCRIBE_GROUPS, 5, groups=["g"])).groups[0]
    assert [(m.client_id, m.client_host) for m in described.members] == [("admin-test", "/10.1.2.3")]

    if leave_version >= 3:
        leaving = [
            LEAVE_GROUP.Request.MemberIdentity(member_id=member_id),
            LEAVE_GROUP.Request.MemberIdentity(member_id="stranger"),
        ]
        left = await send(broker, LEAVE_GROUP, leave_version, group_id="g", members=leaving)
        assert left.error_code == E.NONE
        assert [(m.member_id, m.error_code) for m in left.members] == [
            (member_id, E.NONE),
            ("stranger", E.UNKNOWN_MEMBER_ID),
        ]
    else:
        left = await send(broker, LEAVE_GROUP, leave_version, group_id="g", member_id=member_id)
        assert left.error_code == E.NONE
        again = await send(broker, LEAVE_GROUP, leave_version, group_id="g", member_id=member_id)
        assert again.error_code == E.UNKNOWN_MEMBER_ID  # the member's error is the only one
    assert (await send(broker, DESCRIBE_GROUPS, 5, groups=["g"])).groups[0].group_state == "Empty"


@pytest.mark.parametrize("version", versions(JOIN_GROUP))
async def test_a_refused_join_names_no_protocol(broker: Broker, version: int) -> None:
    refused = await join(broker, version, session=1000)
    assert refused.error_code == E.INVALID_SESSION_TIMEOUT
    assert refused.protocol_name == ("" if version < 7 else None)  # not nullable before v7
    assert (refused.generation_id, refused.leader, refused.members) == (-1, "", [])


@pytest.mark.parametrize("version", [2, 3])
async def test_leave_group_top_level_error(broker: Broker, version: int) -> None:
    await broker.coordinator.stop()
    if version >= 3:
        member = LEAVE_GROUP.Request.MemberIdentity(member_id="m")
        left = await send(broker, LEAVE_GROUP, version, group_id="g", members=[member])
    else:
        left = await send(broker, LEAVE_GROUP, version, group_id="g", member_id="m")
    assert (left.error_code, left.members) == (E.NOT_COORDINATOR, [])


# -- offsets -----------------------------------------------------------------------------


def commit_topic(name: str, *partitions: tuple[int, int]) -> Any:
    Topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
    return Topic(
        name=name,
        partitions=[
            Topic.OffsetCommitRequestPartition(
                partition_index=index, committed_offset=offset, committed_leader_epoch=3, committed_metadata=None
            )
            for index, offset in partitions
        ],
    )


@pytest.mark.parametrize("version", versions(OFFSET_COMMIT))
async def test_offset_commit_every_version(broker: Broker, version: int) -> None:
    await broker.topics.create("t", 2, {})
    group = f"simple-{version}"
    topics = [commit_topic("t", (0, 10), (1, 11), (2, 12)), commit_topic("missing", (0, 1))]
    response = await send(broker, OFFSET_COMMIT, version, group_id=group, topics=topics)
    answered = [(t.name, p.partition_index, p.error_code) for t in response.topics for p in t.partitions]
    assert answered == [
        ("t", 0, E.NONE),
        ("t", 1, E.NONE),
        ("t", 2, E.UNKNOWN_TOPIC_OR_PARTITION),
        ("missing", 0, E.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    stored = await broker.metadata.groups.fetch_offsets(group)
    epoch = 3 if version >= 6 else -1
    assert [(o.partition, o.offset, o.leader_epoch, o.metadata) for o in stored] == [
        (0, 10, epoch, ""),
        (1, 11, epoch, ""),
    ]
    members_only = await send(
        broker, OFFSET_COMMIT, version, group_id=group, generation_id_or_member_epoch=4, member_id="m", topics=topics
    )
    assert {p.error_code for t in members_only.topics[:1] for p in t.partitions[:2]} == {E.UNKNOWN_MEMBER_ID}


def fetch_topics(*partitions: tuple[str, list[int]]) -> list[Any]:
    Topic = OFFSET_FETCH.Request.OffsetFetchRequestTopic
    return [Topic(name=name, partition_indexes=indexes) for name, indexes in partitions]


def fetched(topics: list[Any]) -> list[tuple[str, int, int, int, str | None, int]]:
    return [
        (t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch, p.metadata, p.error_code)
        for t in topics
        for p in t.partitions
    ]


@pytest.mark.parametrize("version", versions(OFFSET_FETCH))
async def test_offset_fetch_every_version(broker: Broker, version: int) -> None:
    await broker.coordinator.commit_offsets(
        "g", -1, "", None, [CommittedOffset("t", 0, 10, 3, "note"), CommittedOffset("u", 1, 20)]
    )
    epoch = 3 if version >= 5 else -1
    expected = [("t", 0, 10, epoch, "note", E.NONE), ("t", 5, -1, -1, "", E.NONE)]
    if version >= 8:
        Group = OFFSET_FETCH.Request.OffsetFetchRequestGroup
        asked = [
            Group(group_id="g", topics=[Group.OffsetFetchRequestTopics(name="t", partition_indexes=[0, 5])]),
            Group(group_id="g", topics=None),
            Group(group_id="other", topics=None),
        ]
        response = await send(broker, OFFSET_FETCH, version, groups=asked)
        assert [(g.group_id, g.error_code) for g in response.groups] == [("g", 0), ("g", 0), ("other", 0)]
        assert fetched(response.groups[0].topics) == expected
        assert [(t.name, [p.partition_index for p in t.partitions]) for t in response.groups[1].topics] == [
            ("t", [0]),
            ("u", [1]),
        ]
        assert response.groups[2].topics == []
        return
    response = await send(broker, OFFSET_FETCH, version, group_id="g", topics=fetch_topics(("t", [0, 5])))
    assert fetched(response.topics) == expected
    if version >= 2:
        everything = await send(broker, OFFSET_FETCH, version, group_id="g", topics=None)
        assert [(t.name, p.partition_index) for t in everything.topics for p in t.partitions] == [("t", 0), ("u", 1)]
    if version >= 7:
        stable = await send(broker, OFFSET_FETCH, version, group_id="g", topics=None, require_stable=True)
        assert len(fetched(stable.topics)) == 2  # no transactions: nothing is ever pending


@pytest.mark.parametrize("version", [1, 2, 8])
async def test_offset_fetch_group_errors(broker: Broker, version: int) -> None:
    await broker.coordinator.stop()
    if version >= 8:
        Group = OFFSET_FETCH.Request.OffsetFetchRequestGroup
        response = await send(broker, OFFSET_FETCH, version, groups=[Group(group_id="g", topics=None)])
        assert [(g.error_code, g.topics) for g in response.groups] == [(E.NOT_COORDINATOR, [])]
        return
    response = await send(broker, OFFSET_FETCH, version, group_id="g", topics=fetch_topics(("t", [0, 1])))
    if version >= 2:
        assert (response.error_code, response.topics) == (E.NOT_COORDINATOR, [])
    else:  # no group error before v2: each partition carries it
        assert [(p.partition_index, p.error_code) for t in response.topics for p in t.partitions] == [
            (0, E.NOT_COORDINATOR),
            (1, E.NOT_COORDINATOR),
        ]


async def test_offset_delete(broker: Broker) -> None:
    await broker.topics.create("t", 2, {})
    Topic = OFFSET_DELETE.Request.OffsetDeleteRequestTopic

    def topics(*partitions: tuple[str, int]) -> list[Any]:
        return [
            Topic(name=name, partitions=[Topic.OffsetDeleteRequestPartition(partition_index=p)])
            for name, p in partitions
        ]

    response = await send(broker, OFFSET_DELETE, 0, group_id="nobody", topics=topics(("t", 0)))
    assert (response.error_code, response.topics) == (E.GROUP_ID_NOT_FOUND, [])
    await broker.coordinator.commit_offsets("g", -1, "", None, [CommittedOffset("t", 0, 1), CommittedOffset("t", 1, 2)])
    response = await send(broker, OFFSET_DELETE, 0, group_id="g", topics=topics(("t", 0), ("t", 7), ("gone", 0)))
    assert response.error_code == E.NONE
    assert [(t.name, p.partition_index, p.error_code) for t in response.topics for p in t.partitions] == [
        ("t", 0, E.NONE),
        ("t", 7, E.UNKNOWN_TOPIC_OR_PARTITION),
        ("gone", 0, E.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert [o.partition for o in await broker.metadata.groups.fetch_offsets("g")] == [1]


# -- DescribeGroups, ListGroups, DeleteGroups ---------------------------------------------


@pytest.mark.parametrize("version", versions(DESCRIBE_GROUPS))
async def test_describe_groups_every_version(broker: Broker, version: int) -> None:
    await broker.coordinator.commit_offsets("simple", -1, "", None, [CommittedOffset("t", 0, 1)])
    response = await send(broker, DESCRIBE_GROUPS, version, groups=["simple", "unknown"])
    assert [(g.group_id, g.error_code, g.group_state, g.protocol_type, g.members) for g in response.groups] == [
        ("simple", E.NONE, "Empty", "", []),
        ("unknown", E.NONE, "Dead", "", []) if version < 6 else ("unknown", E.GROUP_ID_NOT_FOUND, "", "", []),
    ]


@pytest.mark.parametrize("version", versions(LIST_GROUPS))
async def test_list_groups_every_version(broker: Broker, version: int) -> None:
    for group in ("b", "a"):
        await broker.coordinator.commit_offsets(group, -1, "", None, [CommittedOffset("t", 0, 1)])
    response = await send(broker, LIST_GROUPS, version)
    assert response.error_code == E.NONE
    assert [(g.group_id, g.protocol_type) for g in response.groups] == [("a", ""), ("b", "")]
    if version >= 4:
        assert {g.group_state for g in response.groups} == {"Empty"}
        assert (await send(broker, LIST_GROUPS, version, states_filter=["stable"])).groups == []
        assert len((await send(broker, LIST_GROUPS, version, states_filter=["EMPTY"])).groups) == 2


@pytest.mark.parametrize("version", versions(DELETE_GROUPS))
async def test_delete_groups_every_version(broker: Broker, version: int) -> None:
    await broker.coordinator.commit_offsets("idle", -1, "", None, [CommittedOffset("t", 0, 1)])
    response = await send(broker, DELETE_GROUPS, version, groups_names=["idle", "unknown", "idle"])
    assert [(r.group_id, r.error_code) for r in response.results] == [
        ("unknown", E.GROUP_ID_NOT_FOUND),
        ("idle", E.NONE),
    ]
    assert await broker.metadata.groups.fetch_offsets("idle") == []
