"""Stock clients produce 10,000 records and read them back byte for byte, in order per partition.

Every client produces with each of the four codecs, with idempotence on and off, into one
3-partition topic; the same client then consumes the topic from the beginning.
"""

from __future__ import annotations

import itertools
import signal

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.clients import CONSUMERS, PRODUCERS, Received, confluent_consume, confluent_produce
from tests.e2e.dataset import PARTITIONS, Sent, by_partition, records

CODECS = ("gzip", "snappy", "lz4", "zstd")
TOTAL = 10_000


def assert_same(sent: list[Sent], received: list[Received]) -> None:
    """Per partition: the same records in the same order, at offsets 0, 1, 2, ..."""
    got: dict[int, list[Received]] = {partition: [] for partition in range(PARTITIONS)}
    for item in received:
        got[item.partition].append(item)
    for partition, expected in by_partition(sent).items():
        actual = got[partition]
        assert [item.offset for item in actual] == list(range(len(expected))), f"partition {partition} offsets"
        mismatches = [i for i, (a, b) in enumerate(zip(actual, expected, strict=True)) if a.as_sent() != b]
        assert not mismatches, f"partition {partition}: first mismatch at {mismatches[0]}"


@pytest.mark.parametrize("client", list(PRODUCERS))
def test_round_trip_every_codec_idempotence_on_and_off(client: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    broker = BrokerProcess(tmp_path_factory.mktemp(client), ["--num-partitions", str(PARTITIONS)]).start()
    try:
        topic = f"round-trip-{client}"
        sent = records(TOTAL, seed=sum(client.encode()), printable=client == "kcat")
        rounds = list(itertools.product(CODECS, (True, False)))
        size = TOTAL // len(rounds)
        for number, (codec, idempotent) in enumerate(rounds):
            PRODUCERS[client](broker.bootstrap, topic, sent[number * size : (number + 1) * size], codec, idempotent)
        assert_same(sent, CONSUMERS[client](broker.bootstrap, topic, TOTAL))
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]


def test_acknowledged_records_survive_term_and_kill(tmp_path_factory: pytest.TempPathFactory) -> None:
    broker = BrokerProcess(tmp_path_factory.mktemp("restarts"), ["--num-partitions", str(PARTITIONS)]).start()
    topic = "restarts"
    sent = records(4000, seed=7)
    try:
        confluent_produce(broker.bootstrap, topic, sent[:2000], "lz4", True)
        assert broker.restart(signal.SIGTERM) == 0
        assert_same(sent[:2000], confluent_consume(broker.bootstrap, topic, 2000))
        confluent_produce(broker.bootstrap, topic, sent[2000:], "zstd", True)
        broker.restart(signal.SIGKILL)
        assert_same(sent, confluent_consume(broker.bootstrap, topic, 4000))
    finally:
        broker.kill()
