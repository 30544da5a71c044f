"""Fetch answers go out in parts: batches of SPLICE_MIN_BYTES and more by reference, smaller ones copied.

Every stock consumer reads a topic whose partitions alternate large and small batches, so that one
partition's answer interleaves both kinds of parts; once from the tail cache, and once more after a
restart, from the objects on disk.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.primitives import SPLICE_MIN_BYTES
from streamhouse.protocol.records import Record, build_batch
from tests.brokerproc import BrokerProcess
from tests.e2e.clients import CONSUMERS
from tests.e2e.dataset import PARTITIONS, Sent
from tests.e2e.test_round_trip import assert_same
from tests.wireclient import WireClient, produce_body

TOPIC = "fetch-parts"
PRINTABLE = b"abcdefghijklmnopqrstuvwxyz0123456789"  # kcat reads records as lines


def produce_mixed_batches(bootstrap: str, batches: int) -> list[Sent]:
    """`batches` batches round the partitions: every other one is several records above SPLICE_MIN_BYTES in all."""
    rng = random.Random(5)
    sent: list[Sent] = []
    with WireClient(bootstrap) as client:
        wanted = METADATA.Request.MetadataRequestTopic(name=TOPIC)
        created = client.request(METADATA, 12, METADATA.Request(topics=[wanted], allow_auto_topic_creation=True))
        assert created.topics[0].error_code == 0
        for index in range(batches):
            partition = index % PARTITIONS
            large = index % 2 == 1
            items = [
                Sent(
                    partition,
                    b"key-%d-%d" % (index, n),
                    bytes(rng.choices(PRINTABLE, k=SPLICE_MIN_BYTES if large else 40)),
                )
                for n in range(4 if large else 2)
            ]
            batch = build_batch([Record(key=item.key, value=item.value) for item in items])
            assert (len(batch) > SPLICE_MIN_BYTES) is large
            answer = client.request(PRODUCE, 9, produce_body(TOPIC, batch, partition=partition))
            assert answer.responses[0].partition_responses[0].error_code == 0
            sent += items
    return sent


def test_every_consumer_reads_answers_of_large_and_small_batches_from_the_tail_and_from_disk(
    tmp_path: Path,
) -> None:
    broker = BrokerProcess(tmp_path, ["--num-partitions", str(PARTITIONS)]).start()
    try:
        sent = produce_mixed_batches(broker.bootstrap, 60)
        for consume in CONSUMERS.values():
            assert_same(sent, consume(broker.bootstrap, TOPIC, len(sent)))
        assert broker.restart(signal.SIGTERM) == 0
        for consume in CONSUMERS.values():
            assert_same(sent, consume(broker.bootstrap, TOPIC, len(sent)))
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]
