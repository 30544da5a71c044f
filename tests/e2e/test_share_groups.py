"""Share groups (KIP-932) with the stock client: confluent-kafka ShareConsumers against a broker subprocess.

Two to four consumers of one group on one partition split the records, each acknowledged record
delivered once; explicit RELEASE brings a record back with its delivery count raised and REJECT never;
a consumer killed while holding records loses them to another after the acquisition lock expires;
a broker restart mid-stream loses no acknowledgement; two brokers over one PostgreSQL database
continue one group's share-partition where the other stopped; and a group configured read_committed
(IncrementalAlterConfigs on the GROUP resource) never gets records of aborted transactions;
`streamhouse groups list/describe` show share groups.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import AcknowledgeType, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamhouse.protocol.apis.api_versions import API_VERSIONS
from tests.brokerproc import BrokerProcess
from tests.e2e.conftest import backend_args
from tests.e2e.share_consumers import ShareMember, set_group_config, wait_until
from tests.e2e.test_consumer_groups import rows, streamhouse
from tests.wireclient import WireClient

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
LOCK_MS = 3000
BROKER_ARGS = [
    "--group-share-heartbeat-interval-ms", "500", "--group-share-record-lock-duration-ms", str(LOCK_MS),
]  # fmt: skip


@pytest.fixture(scope="module", params=["default", "postgresql"])
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path_factory.mktemp("share"), [*BROKER_ARGS, *backend_args(request.param, request)])
    yield process.start()
    assert process.stop() == 0, process.log_text()[-4000:]


def create_topic(broker: BrokerProcess, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, 1)])[name].result()


def produce(broker: BrokerProcess, topic: str, values: range) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for value in values:
        producer.produce(topic, value=str(value).encode())
    assert producer.flush(30) == 0


def polling(members: list[ShareMember]) -> None:
    """Every member has joined and polled for a while: the group's share-partition starts before what comes next."""
    start = [m.polls for m in members]
    wait_until(lambda: all(m.polls >= s + 10 for m, s in zip(members, start, strict=True)), "members polling")
    time.sleep(1.5)  # at least one fetch of each member reached the broker


def values(members: list[ShareMember]) -> list[int]:
    return sorted(int(value) for m in members for _, value, _ in m.received)


@pytest.fixture
def members() -> Iterator[list[ShareMember]]:
    started: list[ShareMember] = []
    yield started
    for member in started:
        member.stop()


def test_api_versions_advertise_the_share_apis(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        answer = client.request(
            API_VERSIONS, 3, API_VERSIONS.Request(client_software_name="t", client_software_version="1")
        )
    advertised = {key.api_key: (key.min_version, key.max_version) for key in answer.api_keys}
    assert [advertised.get(key) for key in (76, 77, 78, 79)] == [(1, 1)] * 4


def test_two_share_consumers_split_a_thousand_records(broker: BrokerProcess, members: list[ShareMember]) -> None:
    create_topic(broker, "split-2")
    members += [ShareMember(broker.bootstrap, "split-2", "split-2") for _ in range(2)]
    polling(members)
    produce(broker, "split-2", range(1000))
    wait_until(lambda: len(values(members)) >= 1000, "1,000 records")
    time.sleep(1)
    assert values(members) == list(range(1000))
    assert all(member.received for member in members), [len(m.received) for m in members]


def test_four_share_consumers_each_get_acknowledged_records_once(
    broker: BrokerProcess, members: list[ShareMember]
) -> None:
    create_topic(broker, "split-4")
    members += [ShareMember(broker.bootstrap, "split-4", "split-4") for _ in range(4)]
    polling(members)
    produce(broker, "split-4", range(2000))
    wait_until(lambda: len(values(members)) >= 2000, "2,000 records")
    time.sleep(1)
    assert values(members) == list(range(2000))
    assert sum(1 for m in members if m.received) >= 2, [len(m.received) for m in members]


def test_release_redelivers_and_reject_archives(broker: BrokerProcess, members: list[ShareMember]) -> None:
    create_topic(broker, "explicit")

    def decide(message: object) -> AcknowledgeType:
        value, count = int(message.value()), message.delivery_count()  # type: ignore[attr-defined]
        if value % 10 == 1:
            return AcknowledgeType.REJECT
        if value % 10 == 2 and count == 1:
            return AcknowledgeType.RELEASE
        return AcknowledgeType.ACCEPT

    members.append(ShareMember(broker.bootstrap, "explicit", "explicit", decide=decide))
    polling(members)
    produce(broker, "explicit", range(100))
    wait_until(lambda: len(members[0].received) >= 110, "100 records and 10 redeliveries")
    time.sleep(LOCK_MS / 1000 + 1)  # nothing else comes: REJECT is final, and the redelivered were accepted
    received = members[0].received
    assert len(received) == 110
    redelivered = sorted(int(value) for _, value, count in received if count == 2)
    assert redelivered == list(range(2, 100, 10))
    assert sorted(int(value) for _, value, count in received if count == 1) == list(range(100))


def test_records_of_a_killed_consumer_go_to_another_after_the_lock_expires(
    broker: BrokerProcess, members: list[ShareMember]
) -> None:
    create_topic(broker, "killed")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.share_worker", broker.bootstrap, "killed", "killed"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "subscribed"
        time.sleep(3)  # its first fetches reach the broker: the share-partition starts here
        produce(broker, "killed", range(50))
        held: list[int] = []
        reader = threading.Thread(target=lambda: held.extend(map(int, worker.stdout.readline().split())))  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        assert held, "the worker received nothing"
        worker.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        members.append(ShareMember(broker.bootstrap, "killed", "killed"))
        wait_until(lambda: set(held) <= set(members[0].offsets()), "the killed consumer's records")
        assert time.monotonic() - killed_at < 30
        redelivered = {offset: count for offset, _, count in members[0].received if offset in held}
        assert set(redelivered.values()) == {2}
        wait_until(lambda: len(set(members[0].offsets())) == 50, "every record")
    finally:
        worker.kill()
        worker.wait()


def test_a_broker_restart_loses_no_acknowledgement(tmp_path: Path, members: list[ShareMember]) -> None:
    process = BrokerProcess(tmp_path, BROKER_ARGS).start()
    try:
        create_topic(process, "restart")
        first = ShareMember(process.bootstrap, "restart", "restart")
        polling([first])
        produce(process, "restart", range(500))
        wait_until(lambda: len(first.received) >= 500, "the first 500")
        first.stop()  # close() commits the implicit acknowledgements of its last poll
        assert process.restart() == 0
        second = ShareMember(process.bootstrap, "restart", "restart")
        members.append(second)
        polling([second])
        produce(process, "restart", range(500, 1000))
        wait_until(lambda: len(second.received) >= 500, "the next 500")
        time.sleep(LOCK_MS / 1000 + 1)
        assert sorted(int(v) for _, v, _ in second.received) == list(range(500, 1000))
    finally:
        assert process.stop() == 0, process.log_text()[-4000:]


def test_a_second_broker_over_postgresql_continues_the_share_partition(
    tmp_path: Path, members: list[ShareMember], request: pytest.FixtureRequest
) -> None:
    store = backend_args("postgresql", request)
    objects = ["--storage", str(tmp_path / "objects")]
    first = BrokerProcess(tmp_path / "a", [*BROKER_ARGS, *store, *objects, "--broker-id", "1"]).start()
    second = BrokerProcess(tmp_path / "b", [*BROKER_ARGS, *store, *objects, "--broker-id", "2"]).start()
    try:
        create_topic(first, "failover")
        consumer = ShareMember(first.bootstrap, "failover", "failover")
        polling([consumer])
        produce(first, "failover", range(300))
        wait_until(lambda: len(consumer.received) >= 300, "300 records through the first broker")
        consumer.stop()
        assert first.stop() == 0, first.log_text()[-4000:]
        produce(second, "failover", range(300, 600))
        after = ShareMember(second.bootstrap, "failover", "failover")
        members.append(after)
        wait_until(lambda: len(after.received) >= 300, "300 more through the second broker")
        time.sleep(LOCK_MS / 1000 + 1)
        assert sorted(int(v) for _, v, _ in after.received) == list(range(300, 600))
    finally:
        first.stop()
        assert second.stop() == 0, second.log_text()[-4000:]


def test_read_committed_share_groups_skip_aborted_transactions(
    broker: BrokerProcess, members: list[ShareMember]
) -> None:
    create_topic(broker, "transactions")
    set_group_config(broker.bootstrap, "committed", "share.isolation.level", "read_committed")
    committed = ShareMember(broker.bootstrap, "committed", "transactions")
    uncommitted = ShareMember(broker.bootstrap, "uncommitted", "transactions")
    members += [committed, uncommitted]
    polling(members)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "share-txn"})
    producer.init_transactions(30)
    for start, commit in [(0, True), (10, False), (20, True)]:
        producer.begin_transaction()
        for value in range(start, start + 10):
            producer.produce("transactions", value=str(value).encode())
        producer.flush(30)  # written before the abort: librdkafka drops unsent records of an aborted transaction
        producer.commit_transaction(30) if commit else producer.abort_transaction(30)
    wait_until(lambda: len(values([uncommitted])) >= 30 and len(values([committed])) >= 20, "the transactions")
    time.sleep(LOCK_MS / 1000 + 1)
    assert values([committed]) == [*range(10), *range(20, 30)]
    assert values([uncommitted]) == list(range(30))


def test_groups_cli_lists_and_describes_share_groups(broker: BrokerProcess, members: list[ShareMember]) -> None:
    create_topic(broker, "cli")
    member = ShareMember(broker.bootstrap, "cli-share", "cli", config={"client.id": "cli-worker"})
    members.append(member)
    polling(members)
    produce(broker, "cli", range(20))
    wait_until(lambda: len(member.received) >= 20, "20 records")
    wait_until(lambda: rows(describe_cli(broker, "cli-share"), "TOPIC") == [["cli", "0", "20", "0"]], "acknowledged")
    described = describe_cli(broker, "cli-share")
    assert described.startswith("Share group cli-share (Stable, epoch 1), 1 members\n")
    assert rows(described, "MEMBER")[0][1:] == ["cli-worker", "/127.0.0.1", "cli-0"]
    listed = streamhouse("groups", "list", "--bootstrap", broker.bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert ["cli-share", "share", "Stable"] in rows(listed.stdout, "GROUP")


def describe_cli(broker: BrokerProcess, group: str) -> str:
    described = streamhouse("groups", "describe", group, "--bootstrap", broker.bootstrap)
    assert described.returncode == 0, described.stderr
    return described.stdout.rstrip()
