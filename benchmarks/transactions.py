"""Transactions per second of one confluent-kafka transactional producer, end to end.

Run: `python -m benchmarks.transactions [--count 200] [--partitions 3] [--records 10]`.
Starts the embedded default broker, then one producer runs `--count` transactions (after 5 to warm
up), each producing `--records` records of 100 bytes to every one of `--partitions` partitions and
committing. What a transaction costs the broker: AddPartitionsToTxn, the produce (whose first batch
per partition is verified to be in the transaction, KIP-890), EndTxn and its markers. Prints the
transactions per second and the milliseconds per transaction.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer

from tests.brokerproc import BrokerProcess

WARM_UP = 5
TIMEOUT_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--records", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        broker = BrokerProcess(Path(data), ("--num-partitions", str(options.partitions))).start()
        try:
            producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "bench", "linger.ms": 0})
            producer.init_transactions(TIMEOUT_S)

            def transaction() -> None:
                producer.begin_transaction()
                for partition in range(options.partitions):
                    for _ in range(options.records):
                        producer.produce("bench", b"x" * 100, partition=partition)
                producer.commit_transaction(TIMEOUT_S)

            for _ in range(WARM_UP):
                transaction()
            started = time.perf_counter()
            for _ in range(options.count):
                transaction()
            elapsed = time.perf_counter() - started
        finally:
            broker.stop()
    rate = options.count / elapsed
    print(f"{options.count} transactions in {elapsed:.2f} s: {rate:.1f}/s, {1000 / rate:.1f} ms each")


if __name__ == "__main__":
    main()
