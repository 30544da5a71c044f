"""A 4th member joins a 3-member group reading 48 partitions under load: classic eager, cooperative-sticky, KIP-848.

Run: `python -m benchmarks.rebalance_join [--partitions 48] [--rate 2000] [--modes eager,cooperative,consumer]`.
Starts the embedded default broker (heartbeat interval 500 ms for both protocols, no initial
rebalance delay), creates one topic, and keeps a producer writing `--rate` records a second across
its partitions. For each mode, a new group of three confluent-kafka consumers (threads, each polling
and counting records) settles on the partitions; then a 4th member subscribes. Printed per mode: the
seconds from the 4th member's subscribe until the four own every partition exactly once (by their
own rebalance callbacks), the records the group processed in that time, and the group's records a
second before the join, for comparison.

- eager: classic protocol, range assignor: every member gives up everything, then all are reassigned;
- cooperative: classic protocol, cooperative-sticky: only the moved partitions are revoked, in two rounds;
- consumer: group.protocol=consumer (KIP-848): the broker computes the target; members reconcile at heartbeats.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.brokerproc import BrokerProcess

HEARTBEAT_MS = 500
MODES: dict[str, dict[str, Any]] = {
    "eager": {"partition.assignment.strategy": "range", "heartbeat.interval.ms": HEARTBEAT_MS},
    "cooperative": {"partition.assignment.strategy": "cooperative-sticky", "heartbeat.interval.ms": HEARTBEAT_MS},
    "consumer": {"group.protocol": "consumer", "group.remote.assignor": "uniform"},
}


class GroupMember:
    """A consumer polling in its own thread; its owned partitions follow its rebalance callbacks."""

    def __init__(self, bootstrap: str, topic: str, group: str, mode: str, name: str) -> None:
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
            "auto.offset.reset": "latest", "enable.auto.commit": True,
        } | MODES[mode]  # fmt: skip
        self.consumer = Consumer(config)
        self.owned: set[int] = set()
        self.processed: list[float] = []  # one time per record
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.subscribed_at = time.monotonic()
        self.consumer.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _assigned(self, consumer: Any, partitions: Any) -> None:
        with self.lock:
            self.owned |= {tp.partition for tp in partitions}

    def _revoked(self, consumer: Any, partitions: Any) -> None:
        with self.lock:
            self.owned -= {tp.partition for tp in partitions}

    def _poll(self) -> None:
        while not self.stopping.is_set():
            got = [m for m in self.consumer.consume(500, 0.05) if m.error() is None]
            if got:
                now = time.monotonic()
                with self.lock:
                    self.processed += [now] * len(got)
        self.consumer.close()

    def snapshot(self) -> set[int]:
        with self.lock:
            return set(self.owned)

    def processed_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for at in self.processed if start <= at < end)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(30)


def split_once(members: list[GroupMember], partitions: int) -> bool:
    owned = [member.snapshot() for member in members]
    every = [p for mine in owned for p in mine]
    return all(owned) and sorted(every) == list(range(partitions))


def wait_split(members: list[GroupMember], partitions: int, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while not split_once(members, partitions):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no split after {timeout:.0f} s: {[sorted(m.snapshot()) for m in members]}")
        time.sleep(0.01)
    return time.monotonic()


def produce_steadily(bootstrap: str, topic: str, partitions: int, rate: int, stop: threading.Event) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    sent, started = 0, time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - started) * rate)
        for _ in range(due - sent):
            producer.produce(topic, b"x" * 100, partition=sent % partitions)
            sent += 1
        producer.poll(0)
        time.sleep(0.01)
    producer.flush(30)


def measure(bootstrap: str, topic: str, partitions: int, mode: str) -> tuple[float, int, float]:
    group = f"bench-{mode}-{time.time_ns()}"
    members = [GroupMember(bootstrap, topic, group, mode, f"{mode}-{i}") for i in range(3)]
    try:
        wait_split(members, partitions)
        time.sleep(3)  # past the first fetches
        before = time.monotonic()
        time.sleep(3)
        joined = time.monotonic()
        baseline = sum(m.processed_between(before, joined) for m in members) / (joined - before)
        members.append(GroupMember(bootstrap, topic, group, mode, f"{mode}-3"))
        settled = wait_split(members, partitions)
        during = sum(m.processed_between(joined, settled) for m in members)
        return settled - joined, during, baseline
    finally:
        for member in members:
            member.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=48)
    parser.add_argument("--rate", type=int, default=2000, help="records produced a second")
    parser.add_argument("--modes", default="eager,cooperative,consumer")
    args = parser.parse_args()
    broker = BrokerProcess(
        Path(tempfile.mkdtemp(prefix="rebalance-join-")),
        ["--group-initial-rebalance-delay-ms", "0", "--group-consumer-heartbeat-interval-ms", str(HEARTBEAT_MS)],
    ).start()
    stop = threading.Event()
    try:
        topic = "rebalance-join"
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(topic, args.partitions)])[topic].result(30)
        producer = threading.Thread(
            target=produce_steadily, args=(broker.bootstrap, topic, args.partitions, args.rate, stop), daemon=True
        )
        producer.start()
        print(f"{args.partitions} partitions, {args.rate} records/s produced, heartbeat interval {HEARTBEAT_MS} ms")
        print(f"{'mode':<12} {'join to split (s)':>18} {'records during':>15} {'records/s before':>17}")
        for mode in args.modes.split(","):
            seconds, during, baseline = measure(broker.bootstrap, topic, args.partitions, mode)
            print(f"{mode:<12} {seconds:>18.2f} {during:>15} {baseline:>17.0f}", flush=True)
    finally:
        stop.set()
        broker.stop()


if __name__ == "__main__":
    main()
