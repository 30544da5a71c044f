"""Share-consume throughput: 1, 2 and 4 confluent-kafka ShareConsumers of one group on one partition.

Run: `python -m benchmarks.share_consume [--records 50000] [--consumers 1,2,4] [--size 100]`.
Starts the embedded default broker and, for each consumer count, a topic of one partition already
holding `--records` records of `--size` bytes, and a new share group configured to start at the
earliest offset. The consumers (threads, implicit acknowledgement) then read until together they have
every record once; printed: the seconds from their subscribe to the last record, records a second,
and how the records split between them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.brokerproc import BrokerProcess
from tests.e2e.share_consumers import ShareMember, set_group_config, wait_until


def fill(bootstrap: str, topic: str, records: int, size: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 1000})
    value = b"x" * size
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value=value)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def run(bootstrap: str, consumers: int, records: int, size: int) -> tuple[float, list[int]]:
    topic = group = f"share-bench-{consumers}"
    fill(bootstrap, topic, records, size)
    set_group_config(bootstrap, group, "share.auto.offset.reset", "earliest")
    started = time.monotonic()
    members = [ShareMember(bootstrap, group, topic) for _ in range(consumers)]
    try:
        wait_until(lambda: sum(len(m.received) for m in members) >= records, "every record", 600)
        seconds = time.monotonic() - started
        return seconds, [len(m.received) for m in members]
    finally:
        for member in members:
            member.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--consumers", default="1,2,4")
    args = parser.parse_args()
    broker = BrokerProcess(Path(tempfile.mkdtemp(prefix="share-bench-"))).start()
    try:
        for count in [int(n) for n in args.consumers.split(",")]:
            seconds, split = run(broker.bootstrap, count, args.records, args.size)
            print(
                f"{count} consumer(s): {args.records} records in {seconds:.2f} s = {args.records / seconds:,.0f} msg/s;"
                f" split {split}",
                flush=True,
            )
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
