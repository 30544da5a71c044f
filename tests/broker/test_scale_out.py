"""Two brokers in the test's event loop over one metadata store: what each tells clients.

Heartbeats are driven by hand (Broker.refresh_cluster), so no test waits for the loop; the
subprocess tests in tests/e2e/test_scale_out.py run the loop with stock clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.app import Broker, BrokerIdInUseError
from streamhouse.metadata.base import BrokerInfo, ListenerAddress
from streamhouse.protocol.apis.describe_cluster import DESCRIBE_CLUSTER
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.find_coordinator import FIND_COORDINATOR
from streamhouse.protocol.apis.join_group import JOIN_GROUP
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.errors import ErrorCode
from tests.broker.inprocess import running_broker
from tests.broker.test_admin_handlers import call
from tests.broker.test_group_handlers import Peer

E = ErrorCode
PARTITIONS = 12


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Broker, Broker]]:
    """Brokers 1 and 2 over one SQLite file, each having seen the other."""
    shared = {"num_partitions": PARTITIONS, "group_initial_rebalance_delay_ms": 0}
    async with (
        running_broker(tmp_path, broker_id=1, **shared) as first,
        running_broker(tmp_path, broker_id=2, **shared) as second,
    ):
        await first.refresh_cluster()
        yield first, second


async def metadata(broker: Broker, topic: str) -> Any:
    topics = [METADATA.Request.MetadataRequestTopic(name=topic)]
    return await call(broker, METADATA, 12, METADATA.Request(topics=topics, allow_auto_topic_creation=True))


async def find_coordinator(broker: Broker, group: str) -> tuple[int, str, int]:
    [found] = (
        await call(broker, FIND_COORDINATOR, 4, FIND_COORDINATOR.Request(key_type=0, coordinator_keys=[group]))
    ).coordinators
    assert found.error_code == E.NONE
    return found.node_id, found.host, found.port


async def test_both_brokers_list_both_and_agree_on_every_leader(pair: tuple[Broker, Broker]) -> None:
    first, second = pair
    answers = [await metadata(broker, "spread") for broker in pair]
    expected = [(1, "127.0.0.1", first.port), (2, "127.0.0.1", second.port)]
    for answer in answers:
        assert [(b.node_id, b.host, b.port) for b in answer.brokers] == expected
        assert answer.controller_id == 1
    leaders = [[(p.leader_id, p.replica_nodes, p.isr_nodes) for p in a.topics[0].partitions] for a in answers]
    assert leaders[0] == leaders[1]
    assert {leader for leader, _, _ in leaders[0]} == {1, 2}, "12 partitions over 2 brokers use both"
    assert all(replicas == isr == [leader] for leader, replicas, isr in leaders[0])
    for broker in pair:
        described = await call(broker, DESCRIBE_CLUSTER, 1, DESCRIBE_CLUSTER.Request(endpoint_type=1))
        assert [(b.broker_id, b.host, b.port) for b in described.brokers] == expected
        assert described.controller_id == 1


async def test_group_apis_at_the_other_broker_answer_not_coordinator(pair: tuple[Broker, Broker]) -> None:
    by_id = {broker.config.broker_id: broker for broker in pair}
    await metadata(pair[0], "spread")  # creates the topic the commits name
    groups = [f"group-{n}" for n in range(20)]
    coordinators = {group: await find_coordinator(pair[0], group) for group in groups}
    assert coordinators == {group: await find_coordinator(pair[1], group) for group in groups}
    assert {node for node, _, _ in coordinators.values()} == {1, 2}
    for group, (node, _, port) in coordinators.items():
        coordinator, other = by_id[node], by_id[3 - node]
        assert coordinator.port == port
        for broker, error in ((other, E.NOT_COORDINATOR), (coordinator, E.NONE)):
            joined = await call(broker, JOIN_GROUP, 9, join_body(group), Peer())
            assert joined.error_code == (E.MEMBER_ID_REQUIRED if error is E.NONE else error)
            committed = await call(broker, OFFSET_COMMIT, 8, commit_body(group, "spread"), Peer())
            assert [p.error_code for t in committed.topics for p in t.partitions] == [error]
            fetched = await call(broker, OFFSET_FETCH, 8, fetch_body(group), Peer())
            assert fetched.groups[0].error_code == error
            described = await call(broker, DESCRIBE_GROUPS, 5, DESCRIBE_GROUPS.Request(groups=[group]))
            assert described.groups[0].error_code == error


async def test_a_stopped_broker_leaves_the_others_view(pair: tuple[Broker, Broker]) -> None:
    first, second = pair
    await metadata(first, "after-stop")
    await second.stop()
    await first.refresh_cluster()
    answer = await metadata(first, "after-stop")
    assert [b.node_id for b in answer.brokers] == [1]
    assert {p.leader_id for p in answer.topics[0].partitions} == {1}
    assert all(first.cluster.coordinates(f"group-{n}") for n in range(20))


async def test_a_second_broker_with_a_live_id_is_refused(tmp_path: Path) -> None:
    async with running_broker(tmp_path, broker_id=5) as running:
        with pytest.raises(
            BrokerIdInUseError, match=f"broker id 5 is in use by the live broker at 127.0.0.1:{running.port}"
        ):
            async with running_broker(tmp_path, broker_id=5):
                pass
        assert await running.metadata.cluster.live_brokers(60_000) == [
            BrokerInfo(5, "127.0.0.1", running.port, (ListenerAddress("PLAINTEXT", "127.0.0.1", running.port),))
        ]


def join_body(group: str) -> Any:
    return JOIN_GROUP.Request(
        group_id=group,
        session_timeout_ms=10_000,
        rebalance_timeout_ms=10_000,
        member_id="",
        group_instance_id=None,
        protocol_type="consumer",
        protocols=[JOIN_GROUP.Request.JoinGroupRequestProtocol(name="range", metadata=b"subscription")],
        reason=None,
    )


def commit_body(group: str, topic: str) -> Any:
    Topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
    return OFFSET_COMMIT.Request(
        group_id=group,
        generation_id_or_member_epoch=-1,
        member_id="",
        group_instance_id=None,
        topics=[
            Topic(
                name=topic,
                partitions=[
                    Topic.OffsetCommitRequestPartition(
                        partition_index=0, committed_offset=3, committed_leader_epoch=-1, committed_metadata=""
                    )
                ],
            )
        ],
    )


def fetch_body(group: str) -> Any:
    return OFFSET_FETCH.Request(
        groups=[OFFSET_FETCH.Request.OffsetFetchRequestGroup(group_id=group, topics=None)], require_stable=False
    )
