"""Consumer groups of stock clients against a `streamhouse serve` subprocess, members in processes of their own.

Each client library on its own: three members split a 6-partition topic, a fourth joins, one is
killed (no LeaveGroup) and its partitions move once its session expires, one leaves and the rest
rebalance at once; with commits after processing, every record is consumed at least once. Then
kafka-python and confluent-kafka in one group, a static member's restart without a rebalance,
kcat -G resuming from its commits, a broker restart in the middle of consumption, the admin
clients of kafka-python and confluent-kafka on groups and offsets (OffsetDelete included), and
`streamhouse groups` listing groups and describing members and lag.

Backends (tests/e2e/conftest.py): every test runs on each of them, except that the members'
life cycle runs with every client library on the embedded default only and with
confluent-kafka (LIFECYCLE_CLIENT) on the others, which keeps the added time modest.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamhouse.broker.client import describe_group
from streamhouse.metadata.base import CommittedOffset
from tests.brokerproc import BrokerProcess
from tests.e2e.conftest import BACKENDS, DEFAULT, backend_args
from tests.e2e.groups import (
    REPO,
    Member,
    consumed_values,
    produce,
    read_store,
    stored_generation,
    wait_consumed,
    wait_for,
    wait_settled,
)

PARTITIONS = 6
SESSION_TIMEOUT_S = 6.0  # group_worker's session.timeout.ms
BROKER_ARGS = ["--group-initial-rebalance-delay-ms", "0", "--num-partitions", str(PARTITIONS)]


LIFECYCLE_CLIENT = "confluent-kafka"
LIFECYCLE_CASES = [
    pytest.param(backend, client, id=f"{client}-{backend}")
    for backend in BACKENDS
    for client in (("kafka-python", "confluent-kafka", "aiokafka") if backend == DEFAULT else (LIFECYCLE_CLIENT,))
]


@pytest.fixture(scope="module", params=BACKENDS)
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker per backend, shared by the module's tests (they use distinct groups and topics)."""
    args = [*BROKER_ARGS, *backend_args(request.param, request)]
    process = BrokerProcess(tmp_path_factory.mktemp(f"groups-{request.param}"), args).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def batch(phase: str, count: int = 120) -> list[str]:
    return [f"{phase}-{index}" for index in range(count)]


def committed_everything(broker: BrokerProcess, group: str) -> bool:
    view = describe_group(broker.bootstrap, group)
    return len(view.partitions) == PARTITIONS and all(p.lag == 0 for p in view.partitions)


@pytest.mark.parametrize(("broker", "client"), LIFECYCLE_CASES, indirect=["broker"])
def test_members_split_partitions_through_joins_kills_and_leaves(
    client: str, broker: BrokerProcess, members: list[Member]
) -> None:
    topic = group = f"lifecycle-{client}"
    sent = batch("before-join")
    produce(broker, topic, sent, PARTITIONS)  # creates the topic with its 6 partitions

    # aiokafka 0.14 sends one JoinGroup per assignor, each time with the assignors so far (its
    # member-id retry loop sits inside its loop over assignors): with two, its members rejoin with
    # other metadata after every join and, against Kafka too, may rebalance without end.
    assignors = "range" if client == "aiokafka" else "range,roundrobin"

    def member(number: int) -> Member:
        started = Member(client, broker, topic, group, f"{client}-{number}", assignors=assignors)
        members.append(started)
        return started

    live = [member(1), member(2), member(3)]
    wait_settled(broker, group, live, PARTITIONS)
    sent += batch("three")
    produce(broker, topic, sent[-120:], PARTITIONS)

    live.append(member(4))
    view = wait_settled(broker, group, live, PARTITIONS)
    assert all(m.partitions for m in view.members), "every one of the four members gets partitions"
    sent += batch("four")
    produce(broker, topic, sent[-120:], PARTITIONS)

    killed = live.pop(0)
    orphaned = killed.owned
    killed.kill()
    started = time.monotonic()
    wait_settled(broker, group, live, PARTITIONS)
    waited = time.monotonic() - started
    # Not before its session expired (its last heartbeat was at most one interval before the kill).
    assert waited >= SESSION_TIMEOUT_S - 1, f"rebalanced {waited:.1f} s after the kill"
    assert orphaned <= set().union(*(m.owned for m in live)), "the killed member's partitions moved"
    sent += batch("after-kill")
    produce(broker, topic, sent[-120:], PARTITIONS)

    leaving = live.pop(0)
    started = time.monotonic()
    leaving.close()
    wait_settled(broker, group, live, PARTITIONS)
    waited = time.monotonic() - started
    assert waited < SESSION_TIMEOUT_S / 2, f"a clean leave took {waited:.1f} s to rebalance"
    sent += batch("after-leave")
    produce(broker, topic, sent[-120:], PARTITIONS)

    wait_consumed(members, sent)
    assert set(consumed_values(members)) == set(sent)
    wait_for(lambda: committed_everything(broker, group), "every partition's commit to reach its end")
    for remaining in live:
        remaining.close()


def test_kafka_python_and_confluent_kafka_in_one_group(broker: BrokerProcess, members: list[Member]) -> None:
    topic = group = "mixed-clients"
    sent = batch("mixed", 300)
    produce(broker, topic, sent, PARTITIONS)
    # Both support range and roundrobin; two members prefer roundrobin, one range: roundrobin wins.
    members += [
        Member("kafka-python", broker, topic, group, "kp-1", assignors="roundrobin,range"),
        Member("confluent-kafka", broker, topic, group, "ck-1", assignors="range,roundrobin"),
        Member("kafka-python", broker, topic, group, "kp-2", assignors="roundrobin,range"),
    ]
    view = wait_settled(broker, group, members, PARTITIONS)
    assert view.protocol == "roundrobin"
    assert all(m.partitions for m in view.members)
    wait_consumed(members, sent)
    wait_for(lambda: committed_everything(broker, group), "every partition's commit to reach its end")
    for member in members:
        member.close()


def test_static_member_restarts_without_a_rebalance(broker: BrokerProcess, members: list[Member]) -> None:
    topic = group = "static-membership"
    client = "confluent-kafka"
    sent = batch("static", 240)
    produce(broker, topic, sent, PARTITIONS)
    static = Member(client, broker, topic, group, "static", instance_id="static-1")
    others = [Member(client, broker, topic, group, f"dynamic-{n}") for n in (1, 2)]
    members += [static, *others]
    before = wait_settled(broker, group, [static, *others], PARTITIONS)
    generation = stored_generation(broker, group)
    rebalances = [other.rebalances() for other in others]
    kept = static.owned

    static.close()  # a static member leaves no LeaveGroup behind: its place waits for its session
    restarted = Member(client, broker, topic, group, "static", instance_id="static-1")
    members.append(restarted)
    after = wait_settled(broker, group, [restarted, *others], PARTITIONS)

    assert restarted.owned == kept
    assert [other.rebalances() for other in others] == rebalances, "the other members never rebalanced"
    assert stored_generation(broker, group) == generation
    old_id = next(m.member_id for m in before.members if m.group_instance_id == "static-1")
    new_id = next(m.member_id for m in after.members if m.group_instance_id == "static-1")
    assert new_id != old_id
    wait_consumed(members, sent)
    for member in (restarted, *others):
        member.close()


def test_admin_clients_list_describe_alter_and_delete_groups(broker: BrokerProcess, members: list[Member]) -> None:
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException
    from confluent_kafka.admin import AdminClient
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.admin import MemberToRemove
    from kafka.errors import GroupSubscribedToTopicError, NoError
    from kafka.structs import OffsetAndMetadata

    topic = "admin-groups"
    produce(broker, topic, batch("admin", 60), PARTITIONS)
    live = Member("kafka-python", broker, topic, "admin-live", "admin-member", instance_id="admin-static")
    members.append(live)
    wait_settled(broker, "admin-live", [live], PARTITIONS)
    wait_for(lambda: committed_everything(broker, "admin-live"), "the member's commits")

    confluent = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = {g.group_id: g.state for g in confluent.list_consumer_groups().result(30).valid}
    assert listed["admin-live"] == ConsumerGroupState.STABLE
    described = confluent.describe_consumer_groups(["admin-live"])["admin-live"].result(30)
    assert (described.state, described.partition_assignor) == (ConsumerGroupState.STABLE, "range")
    [member] = described.members
    assert (member.client_id, member.group_instance_id, member.host) == ("admin-member", "admin-static", "/127.0.0.1")
    assert sorted(tp.partition for tp in member.assignment.topic_partitions) == list(range(PARTITIONS))
    offsets = confluent.list_consumer_group_offsets([ConsumerGroupTopicPartitions("admin-live")])
    assert {tp.offset for tp in offsets["admin-live"].result(30).topic_partitions} == {10}
    with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
        confluent.delete_consumer_groups(["admin-live"])["admin-live"].result(30)

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        committed = {tp: OffsetAndMetadata(3, "note", -1)}
        assert admin.alter_group_offsets("admin-offsets", committed) == {tp: NoError}
        assert admin.list_group_offsets({"admin-offsets": None}) == {"admin-offsets": committed}
        assert admin.delete_group_offsets("admin-offsets", [tp]) == {tp: NoError}  # OffsetDelete
        assert admin.list_group_offsets({"admin-offsets": None}) == {"admin-offsets": {}}
        assert admin.delete_group_offsets("admin-live", [tp]) == {tp: GroupSubscribedToTopicError}
        assert admin.delete_groups(["admin-offsets", "admin-unknown"]) == {
            "admin-offsets": "OK",
            "admin-unknown": "GroupIdNotFoundError",
        }
        removed = admin.remove_group_members("admin-live", [MemberToRemove(group_instance_id="admin-static")])
        assert list(removed.values()) == [NoError]
    finally:
        admin.close()
    live.close()


def streamhouse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def rows(text: str, header: str) -> list[list[str]]:
    """The rows of the table under the header line starting with `header`, split on blanks."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header)) + 1
    return [line.split() for line in itertools.takewhile(str.strip, lines[start:])]


def test_groups_cli_lists_groups_and_describes_members_and_lag(broker: BrokerProcess, members: list[Member]) -> None:
    topic = group = "cli-lag"
    first = batch("cli", 60)  # 10 per partition
    produce(broker, topic, first, PARTITIONS)
    members += [Member("kafka-python", broker, topic, group, f"cli-{n}") for n in (1, 2)]
    view = wait_settled(broker, group, members, PARTITIONS)
    wait_consumed(members, first)
    wait_for(lambda: committed_everything(broker, group), "every partition's commit to reach its end")

    described = streamhouse("groups", "describe", group, "--bootstrap", broker.bootstrap)
    assert described.returncode == 0, described.stderr
    assert described.stdout.startswith(f"Group {group} (consumer, Stable, protocol range), 2 members\n")
    owners = {m.member_id: m.client_id for m in view.members}
    listed = {row[0]: (row[2], row[-1]) for row in rows(described.stdout, "MEMBER")}
    expected = {m.member_id: (m.client_id, ",".join(f"{t}-{p}" for t, p in m.partitions)) for m in view.members}
    assert listed == expected
    lags = rows(described.stdout, "TOPIC")
    assert [row[:5] for row in lags] == [[topic, str(p), "10", "10", "0"] for p in range(PARTITIONS)]
    assert {owners[row[5]] for row in lags} == {"cli-1", "cli-2"}

    for member in members:
        member.close()
    produce(broker, topic, batch("cli-more", 30), PARTITIONS)  # 5 more per partition
    described = streamhouse("groups", "describe", group, "--bootstrap", broker.bootstrap)
    assert described.stdout.startswith(f"Group {group} (consumer, Empty), 0 members\n")
    assert rows(described.stdout, "TOPIC") == [[topic, str(p), "10", "15", "5", "-"] for p in range(PARTITIONS)]

    listed_groups = streamhouse("groups", "list", "--bootstrap", broker.bootstrap)
    assert listed_groups.returncode == 0
    assert [group, "consumer", "Empty"] in rows(listed_groups.stdout, "GROUP")


def test_groups_cli_reports_an_unreachable_broker() -> None:
    result = streamhouse("groups", "list", "--bootstrap", "127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.startswith("streamhouse groups: cannot connect to 127.0.0.1:1")


def kcat_consume(broker: BrokerProcess, topic: str, group: str) -> list[str]:
    """kcat's balanced consumer (-G) from the group's committed offsets to the end; it commits on exit.

    (-o would override the committed offsets of every assigned partition: the reset policy does not.)
    """
    output = subprocess.run(
        ["kcat", "-b", broker.bootstrap, "-G", group, "-e", "-q", "-f", "%s\n",
         "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", topic],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return output.splitlines()


def test_kcat_joins_consumes_commits_and_resumes(broker: BrokerProcess) -> None:
    topic = group = "kcat-group"
    first = batch("kcat-first", 60)
    produce(broker, topic, first, PARTITIONS)
    assert sorted(kcat_consume(broker, topic, group)) == sorted(first)
    view = describe_group(broker.bootstrap, group)
    assert view.protocol_type == "consumer"
    assert [p.committed for p in view.partitions] == [10] * PARTITIONS
    second = batch("kcat-second", 30)
    produce(broker, topic, second, PARTITIONS)
    assert sorted(kcat_consume(broker, topic, group)) == sorted(second)


def test_broker_restart_in_the_middle_of_consumption(backend: list[str], tmp_path: Path, members: list[Member]) -> None:
    broker = BrokerProcess(tmp_path / "broker", [*BROKER_ARGS, *backend]).start()
    topic = group = "restarts"
    try:
        produce(broker, topic, batch("warm-up", 60), PARTITIONS)
        # Slow members (20 records per 50 ms each), so the broker stops while they are busy.
        members += [
            Member("confluent-kafka", broker, topic, group, f"restart-{n}", delay_ms=50, max_records=20)
            for n in (1, 2, 3)
        ]
        wait_settled(broker, group, members, PARTITIONS)
        wait_consumed(members, batch("warm-up", 60))
        during = batch("during", 1200)
        produce(broker, topic, during, PARTITIONS)
        wait_for(lambda: len(set(consumed_values(members)) & set(during)) >= 300, "consumption to be under way")
        generation = stored_generation(broker, group)

        assert broker.stop(signal.SIGTERM) == 0
        committed = {(o.topic, o.partition): o.offset for o in _stored_offsets(broker, group)}
        assert 60 < sum(committed.values()) < 60 + len(during), "stopped in the middle of consumption"
        broker.start()

        view = wait_settled(broker, group, members, PARTITIONS)
        assert stored_generation(broker, group) > generation, "the generation continues after the restart"
        now = {(p.topic, p.partition): p.committed or 0 for p in view.partitions}
        assert all(now[key] >= offset for key, offset in committed.items()), "committed offsets were kept"
        after = batch("after", 120)
        produce(broker, topic, after, PARTITIONS)
        wait_consumed(members, [*during, *after])

        seen = Counter((partition, offset) for m in members for partition, offset, _ in m.consumed())
        again = sorted(key for key, count in seen.items() if count > 1)
        below = [(p, o) for p, o in again if o < committed.get((topic, p), 0)]
        assert not below, f"records below the committed offsets came again: {below[:5]}"
        for member in members:
            member.close()
    finally:
        broker.kill()


def _stored_offsets(broker: BrokerProcess, group: str) -> list[CommittedOffset]:
    """The group's offsets in the metadata store of a stopped broker."""
    return read_store(broker, lambda store: store.groups.fetch_offsets(group))
