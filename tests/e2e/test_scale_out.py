"""Two `streamhouse serve` brokers over one PostgreSQL database and one object folder, with stock clients.

A client bootstrapped to broker 1 sees both brokers in Metadata, produces to partitions whose
preferred brokers are both, and reads everything back from them; each broker still accepts
records for partitions preferred elsewhere; a broker refuses to start with a live broker's id;
a consumer group whose coordinator is broker 2 works through clients that only know broker 1;
and when broker 2 is killed, the clients move to broker 1 once broker 2's heartbeat expires,
and nothing acknowledged is lost. Brokers heartbeat every HEARTBEAT_MS, so one drops out after
3 of them.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamhouse.broker.client import find_coordinator
from streamhouse.broker.cluster import HEARTBEATS_TO_EXPIRY, group_key, partition_key, rendezvous
from streamhouse.metadata.base import MetadataStore
from streamhouse.protocol.apis.describe_groups import DESCRIBE_GROUPS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch
from tests.brokerproc import BrokerProcess
from tests.e2e.clients import CONSUMERS, PRODUCERS, confluent_consume
from tests.e2e.conftest import backend_args
from tests.e2e.dataset import PARTITIONS, records
from tests.e2e.groups import Member, produce, read_store, wait_consumed, wait_for, wait_settled
from tests.e2e.test_round_trip import assert_same
from tests.wireclient import WireClient, produce_body

HEARTBEAT_MS = 1000
EXPIRY_S = HEARTBEAT_MS * HEARTBEATS_TO_EXPIRY / 1000
GROUP_PARTITIONS = 6
CLIENTS = ("confluent-kafka", "kafka-python")
BROKER_IDS = [1, 2]


def start_cluster(request: pytest.FixtureRequest, folder: Path) -> list[BrokerProcess]:
    """Brokers 1 and 2 on one fresh PostgreSQL database and one object folder, each seeing the other."""
    shared = [
        *backend_args("postgresql", request),
        "--storage", str(folder / "objects"),
        "--broker-heartbeat-ms", str(HEARTBEAT_MS),
        "--num-partitions", str(GROUP_PARTITIONS),
        "--group-initial-rebalance-delay-ms", "0",
        "--log-level", "DEBUG",  # every request is logged: which broker served what
    ]  # fmt: skip
    brokers = [BrokerProcess(folder / f"broker-{n}", ["--broker-id", str(n), *shared]) for n in BROKER_IDS]
    request.addfinalizer(lambda: [broker.kill() for broker in brokers])
    for broker in brokers:
        broker.start()
    for broker in brokers:
        wait_for(lambda broker=broker: live_ids(broker) == BROKER_IDS, f"broker at {broker.bootstrap} to see both")
    return brokers


def live_ids(broker: BrokerProcess) -> list[int]:
    with WireClient(broker.bootstrap) as client:
        _, answer = client.call(METADATA, METADATA.Request(topics=[], allow_auto_topic_creation=False))
    return [b.node_id for b in answer.brokers]


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[BrokerProcess]]:
    brokers = start_cluster(request, tmp_path_factory.mktemp("scale-out"))
    yield brokers
    for broker in brokers:
        assert broker.stop() == 0, broker.log_text()[-4000:]


def leader(topic: str, partition: int, broker_ids: list[int] = BROKER_IDS) -> int:
    return rendezvous(partition_key(topic, partition), broker_ids)


def spread_topic(prefix: str, partitions: int) -> str:
    """A topic name whose first `partitions` partitions prefer both brokers."""
    return next(
        name
        for name in (f"{prefix}-{n}" for n in range(100))
        if {leader(name, p) for p in range(partitions)} == set(BROKER_IDS)
    )


def group_on(broker_id: int, prefix: str) -> str:
    return next(g for g in (f"{prefix}-{n}" for n in range(100)) if rendezvous(group_key(g), BROKER_IDS) == broker_id)


def seen_by(client: str, bootstrap: str, topic: str) -> tuple[dict[int, tuple[str, int]], dict[int, int]]:
    """Through a stock client's own Metadata: the brokers (id: host, port) and each partition's leader."""
    if client == "confluent-kafka":
        from confluent_kafka.admin import AdminClient

        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=30)
        brokers = {b.id: (b.host, b.port) for b in metadata.brokers.values()}
        return brokers, {p.id: p.leader for p in metadata.topics[topic].partitions.values()}
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_cluster()
        [found] = admin.describe_topics([topic])
    finally:
        admin.close()
    brokers = {b["broker_id"]: (b["host"], b["port"]) for b in described["brokers"]}  # DescribeCluster
    return brokers, {p["partition_index"]: p["leader_id"] for p in found["partitions"]}


def requests_served(broker: BrokerProcess, api: str) -> int:
    return broker.log_text().count(f" {api} v")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_client_of_one_broker_sees_both_and_meets_on_the_preferred_brokers(
    client: str, cluster: list[BrokerProcess]
) -> None:
    first, second = cluster
    topic = spread_topic(f"spread-{client}", PARTITIONS)
    sent = records(3000, seed=5)
    fetches_before = [requests_served(broker, "Fetch") for broker in cluster]
    PRODUCERS[client](first.bootstrap, topic, sent, "lz4", True)
    assert_same(sent, CONSUMERS[client](first.bootstrap, topic, len(sent)))

    brokers, leaders = seen_by(client, first.bootstrap, topic)
    assert brokers == {1: ("127.0.0.1", first.port), 2: ("127.0.0.1", second.port)}
    assert leaders == {p: leader(topic, p) for p in range(GROUP_PARTITIONS)}

    async def object_keys(store: MetadataStore) -> dict[int, set[str]]:
        found = await store.topics.get_topic(topic)
        assert found is not None
        return {
            p: {entry.object_key for entry in await store.log.find_index(found.topic_id, p, 0, 10_000)}
            for p in range(PARTITIONS)
        }

    # Each partition's batches were written by its preferred broker (flush objects are named by broker id).
    for partition, keys in read_store(first, object_keys).items():
        assert keys and all(key.startswith(f"flush/{leaders[partition]}/") for key in keys), (partition, keys)
    # And read back from both: each partition's fetches go to its leader.
    assert all(requests_served(b, "Fetch") > before for b, before in zip(cluster, fetches_before, strict=True))


def test_a_group_coordinated_by_the_other_broker(cluster: list[BrokerProcess], members: list[Member]) -> None:
    first, second = cluster
    group = topic = group_on(2, "elsewhere")
    with WireClient(first.bootstrap) as wire:
        assert find_coordinator(wire, group) == second.bootstrap
        _, described = wire.call(DESCRIBE_GROUPS, DESCRIBE_GROUPS.Request(groups=[group]))
        assert described.groups[0].error_code == ErrorCode.NOT_COORDINATOR
    sent = [f"elsewhere-{n}" for n in range(240)]
    produce(first, topic, sent, GROUP_PARTITIONS)
    joins_before = requests_served(second, "JoinGroup")
    members += [
        Member("kafka-python", first, topic, group, "kp"),
        Member("confluent-kafka", first, topic, group, "ck"),
    ]
    wait_settled(first, group, members, GROUP_PARTITIONS)  # read from the coordinator, broker 2
    wait_consumed(members, sent)
    assert requests_served(second, "JoinGroup") >= joins_before + 2
    for member in members:
        member.close()


def test_each_broker_accepts_partitions_preferred_elsewhere(cluster: list[BrokerProcess]) -> None:
    topic = spread_topic("elsewhere-accepted", PARTITIONS)
    for partition in range(PARTITIONS):
        other = cluster[BROKER_IDS.index(leader(topic, partition)) - 1]  # the broker not preferred for it
        batch = build_batch([Record(key=None, value=f"via-{partition}".encode())])
        body = produce_body(topic, batch, partition=partition)
        with WireClient(other.bootstrap) as client:
            if partition == 0:  # the first produce creates the topic, like any client's Metadata
                client.call(METADATA, METADATA.Request(topics=[METADATA.Request.MetadataRequestTopic(name=topic)]))
            [answer] = client.request(PRODUCE, 9, body).responses[0].partition_responses
        assert (answer.error_code, answer.base_offset) == (ErrorCode.NONE, 0)
    received = confluent_consume(cluster[0].bootstrap, topic, PARTITIONS)
    assert sorted((r.partition, r.value) for r in received) == [(p, f"via-{p}".encode()) for p in range(PARTITIONS)]


def test_a_broker_taking_a_live_id_is_refused(cluster: list[BrokerProcess], tmp_path: Path) -> None:
    first = cluster[0]
    same_id = BrokerProcess(tmp_path / "same-id", ["--broker-id", "1", "--metadata", first.metadata_url])
    with pytest.raises(RuntimeError, match="did not start"):
        same_id.start()
    assert f"broker id 1 is in use by the live broker at 127.0.0.1:{first.port}" in same_id.log_text()
    assert same_id.stop() == 1
    assert live_ids(first) == BROKER_IDS


class SteadyProducer(threading.Thread):
    """Sends `value-<n>` to partition n mod GROUP_PARTITIONS, about 100 a second, until stopped.

    Remembers each acknowledged value with its partition and the time of the acknowledgement.
    """

    def __init__(self, client: str, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.client, self.bootstrap, self.topic = client, bootstrap, topic
        self.acknowledged: list[tuple[str, int, float]] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def delivered(self, value: str, partition: int) -> None:
        self.acknowledged.append((value, partition, time.monotonic()))

    def run(self) -> None:
        send, flush = self._confluent() if self.client == "confluent-kafka" else self._kafka_python()
        number = 0
        while not self.stopping.is_set():
            send(f"value-{number}", number % GROUP_PARTITIONS)
            number += 1
            time.sleep(0.01)
        flush()

    def _confluent(self) -> tuple[Callable[[str, int], None], Callable[[], None]]:
        from confluent_kafka import Producer

        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 120_000}
        )

        def send(value: str, partition: int) -> None:
            def done(error: Any, message: Any) -> None:
                if error is None:
                    self.delivered(value, partition)
                else:
                    self.failures.append(f"{value}: {error}")

            producer.produce(self.topic, value=value.encode(), partition=partition, on_delivery=done)
            producer.poll(0)

        return send, lambda: self.failures.extend(["undelivered"] * producer.flush(120))

    def _kafka_python(self) -> tuple[Callable[[str, int], None], Callable[[], None]]:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, delivery_timeout_ms=120_000)

        def send(value: str, partition: int) -> None:
            future = producer.send(self.topic, value=value.encode(), partition=partition)
            future.add_callback(lambda _: self.delivered(value, partition))
            future.add_errback(lambda error: self.failures.append(f"{value}: {error}"))

        def flush() -> None:
            producer.flush(120)
            producer.close()

        return send, flush


@pytest.mark.parametrize("client", CLIENTS)
def test_clients_move_to_the_survivor_when_a_broker_is_killed(
    client: str, request: pytest.FixtureRequest, tmp_path: Path, members: list[Member]
) -> None:
    first, second = start_cluster(request, tmp_path)
    group = topic = group_on(2, f"failover-{client}")
    assert {leader(topic, p) for p in range(GROUP_PARTITIONS)} == set(BROKER_IDS)
    moved = {p for p in range(GROUP_PARTITIONS) if leader(topic, p) == 2}
    produce(first, topic, ["warm-up"], GROUP_PARTITIONS)  # creates the topic
    members += [Member(client, first, topic, group, f"{client}-{n}") for n in (1, 2)]
    wait_settled(first, group, members, GROUP_PARTITIONS)
    producer = SteadyProducer(client, first.bootstrap, topic)
    producer.start()
    try:
        wait_for(lambda: len(producer.acknowledged) >= 200, "200 acknowledged records before the kill")
        second.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(
            lambda: any(p in moved and at > killed_at for _, p, at in producer.acknowledged),
            "a record acknowledged after the kill on a partition broker 2 was preferred for",
            timeout=60,
        )
        resumed_after = min(at for _, p, at in producer.acknowledged if p in moved and at > killed_at) - killed_at
        print(f"{client}: partitions of the killed broker took records again {resumed_after:.1f} s after the kill")
        time.sleep(1)
    finally:
        producer.stopping.set()
        producer.join(150)
    assert not producer.failures, producer.failures[:5]
    assert live_ids(first) == [1]
    acknowledged = [value for value, _, _ in producer.acknowledged]
    assert any(at > killed_at for _, _, at in producer.acknowledged)
    wait_consumed(members, acknowledged)  # the group moved to broker 1 too, and lost nothing
    # Re-routing waits for the expiry (3 heartbeats), then for the clients' retry back-off: generous bounds.
    assert resumed_after < EXPIRY_S + 30
    for member in members:
        member.close()
