"""KIP-848 consumer groups with a stock client: confluent-kafka with group.protocol=consumer, members in processes.

Three members split six partitions and one leaves while the others keep consuming; a rolling
restart loses no record; a regular expression subscription picks up a topic created later; a
classic group whose members come back with the consumer protocol keeps its committed offsets; a
classic group migrates online (a consumer-protocol member joins while a classic one consumes, and
the group turns classic again when it leaves); and
`describe_consumer_groups` reports the group's type as consumer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupType
from confluent_kafka.admin import AdminClient, NewTopic

from streamhouse.broker.client import describe_group
from streamhouse.protocol.apis.consumer_group_describe import CONSUMER_GROUP_DESCRIBE
from tests.brokerproc import BrokerProcess
from tests.e2e.conftest import backend_args
from tests.e2e.groups import Member, consumed_values, produce, wait_consumed, wait_for
from tests.wireclient import WireClient

pytestmark = pytest.mark.e2e

PARTITIONS = 6
CONSUMER = "confluent-kafka-consumer"
BROKER_ARGS = [
    "--num-partitions", str(PARTITIONS), "--group-initial-rebalance-delay-ms", "0",
    "--group-consumer-heartbeat-interval-ms", "500", "--group-consumer-session-timeout-ms", "6000",
]  # fmt: skip


@pytest.fixture(scope="module", params=["default", "postgresql"])
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path_factory.mktemp("kip848"), [*BROKER_ARGS, *backend_args(request.param, request)])
    yield process.start()
    assert process.stop() == 0, process.log_text()[-4000:]


def settled(broker: BrokerProcess, group: str, members: list[Member], partitions: int) -> bool:
    """The group is Stable with exactly these members, splitting the partitions, each consuming what it was given."""
    owned = {member.name: member.owned for member in members}
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    described = admin.describe_consumer_groups([group])[group].result()
    if described.type != ConsumerGroupType.CONSUMER or described.state != ConsumerGroupState.STABLE:
        return False
    given = {m.client_id: {tp.partition for tp in m.assignment.topic_partitions} for m in described.members}
    if sorted(given) != sorted(owned):
        return False
    split = sorted(p for ps in given.values() for p in ps)
    return split == list(range(partitions)) and all(given[name] == owned[name] for name in owned)


def wait_settled(broker: BrokerProcess, group: str, members: list[Member], partitions: int = PARTITIONS) -> None:
    try:
        wait_for(lambda: settled(broker, group, members, partitions), f"{group} to settle")
    except AssertionError:
        for member in members:
            print(f"--- {member.name}: owned {member.owned}\n{member.log()}")
        raise


def group_epoch(broker: BrokerProcess, group: str) -> int:
    with WireClient(broker.bootstrap) as client:
        described = client.request(CONSUMER_GROUP_DESCRIBE, 0, CONSUMER_GROUP_DESCRIBE.Request(group_ids=[group]))
    assert described.groups[0].error_code == 0
    return int(described.groups[0].group_epoch)


def start(broker: BrokerProcess, topic: str, group: str, name: str, **options: object) -> Member:
    return Member(CONSUMER, broker, topic, group, name, **options)  # type: ignore[arg-type]


def test_three_members_split_six_partitions_and_two_take_over_when_one_leaves(
    broker: BrokerProcess, members: list[Member]
) -> None:
    topic = group = "kip848-split"
    produce(broker, topic, [f"first-{i}" for i in range(120)], PARTITIONS)
    members += [start(broker, topic, group, f"member-{i}", delay_ms=20, max_records=20) for i in range(3)]
    wait_settled(broker, group, members)
    assert sorted(len(member.owned) for member in members) == [2, 2, 2]
    wait_consumed(members, [f"first-{i}" for i in range(120)])
    view = describe_group(broker.bootstrap, group)  # `streamhouse groups describe`: ConsumerGroupDescribe
    assert (view.protocol_type, view.protocol, len(view.members)) == ("consumer", "range", 3)  # as asked
    assert sorted(p for member in view.members for _, p in member.partitions) == list(range(PARTITIONS))

    leaving, staying = members[0], members[1:]
    before = {member.name: len(member.consumed()) for member in staying}
    produce(broker, topic, [f"second-{i}" for i in range(300)], PARTITIONS)
    leaving.close()
    wait_settled(broker, group, staying)
    assert sorted(len(member.owned) for member in staying) == [3, 3]
    produce(broker, topic, [f"third-{i}" for i in range(120)], PARTITIONS)
    wait_consumed(members, [f"{phase}-{i}" for phase, n in (("second", 300), ("third", 120)) for i in range(n)])
    assert all(len(member.consumed()) > before[member.name] for member in staying)  # they kept consuming


def test_a_rolling_restart_loses_no_record(broker: BrokerProcess, members: list[Member]) -> None:
    topic = group = "kip848-rolling"
    produce(broker, topic, ["first"], PARTITIONS)  # the consumer protocol does not create topics
    current = [start(broker, topic, group, f"rolling-{i}") for i in range(3)]
    members += current
    wait_settled(broker, group, current)
    for index in range(3):
        produce(broker, topic, [f"round{index}-{i}" for i in range(60)], PARTITIONS)
        current[index].close()
        replacement = start(broker, topic, group, f"rolling-{index}-again")
        members.append(replacement)
        current[index] = replacement
        wait_settled(broker, group, current)
    produce(broker, topic, [f"last-{i}" for i in range(60)], PARTITIONS)
    expected = ["first"] + [f"round{r}-{i}" for r in range(3) for i in range(60)] + [f"last-{i}" for i in range(60)]
    wait_consumed(members, expected)


def test_a_regex_subscription_picks_up_a_topic_created_later(broker: BrokerProcess, members: list[Member]) -> None:
    produce(broker, "kip848-regex-a", ["a-0", "a-1"], PARTITIONS)
    members.append(start(broker, "^kip848-regex-.*", "kip848-regex", "regex-member"))
    wait_consumed(members, ["a-0", "a-1"])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("kip848-regex-b", 2)])["kip848-regex-b"].result(30)
    produce(broker, "kip848-regex-b", ["b-0", "b-1", "b-2"], 2)
    wait_consumed(members, ["a-0", "a-1", "b-0", "b-1", "b-2"])


def test_a_classic_group_becomes_a_consumer_group_with_its_offsets(
    broker: BrokerProcess, members: list[Member]
) -> None:
    topic = group = "kip848-migrate"
    produce(broker, topic, [f"old-{i}" for i in range(60)], PARTITIONS)
    classic = Member("confluent-kafka", broker, topic, group, "classic")
    members.append(classic)
    wait_consumed([classic], [f"old-{i}" for i in range(60)])
    wait_for(lambda: len({p for p, _, _ in classic.consumed()}) == PARTITIONS, "every partition read")
    classic.close()  # it committed after each batch

    produce(broker, topic, [f"new-{i}" for i in range(60)], PARTITIONS)
    modern = start(broker, topic, group, "modern")
    members.append(modern)
    wait_settled(broker, group, [modern])
    wait_consumed([modern], [f"new-{i}" for i in range(60)])
    assert not [value for value in consumed_values([modern]) if value.startswith("old-")]


def test_a_classic_group_migrates_online_and_back(broker: BrokerProcess, members: list[Member]) -> None:
    topic = group = "kip848-online"
    produce(broker, topic, [f"a-{i}" for i in range(60)], PARTITIONS)
    classic = Member("confluent-kafka", broker, topic, group, "classic")
    members.append(classic)
    wait_for(lambda: len(classic.owned) == PARTITIONS, "the classic member's assignment")
    wait_consumed([classic], [f"a-{i}" for i in range(60)])

    modern = start(broker, topic, group, "modern")
    members.append(modern)
    wait_settled(broker, group, [classic, modern])  # a consumer group now, the classic member one of it
    assert sorted(len(member.owned) for member in (classic, modern)) == [3, 3]
    produce(broker, topic, [f"b-{i}" for i in range(60)], PARTITIONS)
    wait_consumed(members, [f"b-{i}" for i in range(60)])

    modern.close()  # the last consumer-protocol member: the group is classic again
    wait_for(lambda: len(classic.owned) == PARTITIONS, "the classic member to own every partition again")
    produce(broker, topic, [f"c-{i}" for i in range(60)], PARTITIONS)
    wait_consumed([classic], [f"c-{i}" for i in range(60)])


def test_members_continue_through_a_broker_restart(tmp_path: Path, members: list[Member]) -> None:
    """The group's state is in the metadata store: the restarted broker continues it where it was."""
    broker = BrokerProcess(tmp_path / "restarted", BROKER_ARGS).start()
    try:
        topic = group = "kip848-restart"
        produce(broker, topic, [f"before-{i}" for i in range(60)], PARTITIONS)
        members += [start(broker, topic, group, f"restart-{i}") for i in range(2)]
        wait_settled(broker, group, members)
        wait_consumed(members, [f"before-{i}" for i in range(60)])
        epoch = group_epoch(broker, group)
        assert broker.restart() == 0
        produce(broker, topic, [f"after-{i}" for i in range(60)], PARTITIONS)
        wait_consumed(members, [f"after-{i}" for i in range(60)])
        wait_settled(broker, group, members)
        assert group_epoch(broker, group) == epoch  # continued: nobody had to join again
    finally:
        for member in members:
            member.stop_if_running()
        broker.kill()
