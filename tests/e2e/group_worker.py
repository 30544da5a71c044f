"""One consumer group member with a stock client, in a process of its own (so a test can SIGKILL it).

    python -m tests.e2e.group_worker CLIENT BOOTSTRAP TOPIC GROUP NAME [--instance-id ID]
        [--assignors range,roundrobin] [--delay-ms MS] [--max-records N]

CLIENT is kafka-python, confluent-kafka, aiokafka, or confluent-kafka-consumer (KIP-848's
group.protocol=consumer: the broker assigns, with the first of --assignors as group.remote.assignor;
a TOPIC starting with ^ is a regular expression); NAME is the client id. The member prints one
JSON object per line, flushed at once, so a killed member's last words still reach the test:

    {"event": "assigned", "partitions": [0, 3]}    after a rebalance: what it owns now
    {"event": "revoked", "partitions": [0, 3]}     before a rebalance: what it gives up
    {"event": "records", "records": [[partition, offset, value], ...]}   processed, before the commit
    {"event": "commit-failed", "error": "..."}     the commit was refused (a rebalance): records come again
    {"event": "closed"}

It commits after processing each batch (of at most N records, taking MS milliseconds). A line
"close" on stdin closes the consumer (a dynamic member leaves the group; a static one does not)
and ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

SESSION_TIMEOUT_MS = 6000  # the broker's minimum, so killed members are noticed soon
HEARTBEAT_INTERVAL_MS = 500  # rebalances reach every member within this


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def records_event(items: Iterable[tuple[int, int, bytes | None]]) -> None:
    records = [[partition, offset, (value or b"").decode()] for partition, offset, value in items]
    if records:
        emit("records", records=records)


def watch_stdin(closing: threading.Event) -> None:
    def read() -> None:
        for line in sys.stdin:
            if line.strip() == "close":
                break
        closing.set()  # also when the test's end of the pipe closes

    threading.Thread(target=read, daemon=True).start()


def kafka_python(args: argparse.Namespace, closing: threading.Event) -> None:
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.errors import KafkaError

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked: Any) -> None:
            emit("revoked", partitions=sorted(tp.partition for tp in revoked))

        def on_partitions_assigned(self, assigned: Any) -> None:
            emit("assigned", partitions=sorted(tp.partition for tp in assigned))

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        client_id=args.name,
        group_instance_id=args.instance_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        partition_assignment_strategy=[assignors[name] for name in args.assignors],
        reconnect_backoff_max_ms=1000,
        max_poll_records=args.max_records,
    )
    consumer.subscribe([args.topic], listener=Listener())
    while not closing.is_set():
        batches = consumer.poll(timeout_ms=200)
        resume_orphaned_join(consumer)
        items = [(r.partition, r.offset, r.value) for records in batches.values() for r in records]
        if not items:
            continue
        records_event(items)
        time.sleep(args.delay_ms / 1000)
        try:
            consumer.commit()
        except KafkaError as exc:
            emit("commit-failed", error=repr(exc))
    consumer.close()


def resume_orphaned_join(consumer: Any) -> None:
    """Work around a kafka-python 3.0 bug that leaves a member silent for good after a rebalance.

    When poll's timeout ends while a JoinGroup+SyncGroup round is in flight, the client keeps the
    round's task and awaits it on the next poll, but only if need_rejoin() still holds. A leader
    that rejoined because the partitions it assigned were out of date (its first assignment ran
    before its topic metadata arrived, e.g. with group.initial.rebalance.delay.ms 0) makes
    need_rejoin() false inside that very round (_perform_assignment updates the snapshot). Then
    the finished round is never taken up: no assignment, heartbeats stay disabled, the coordinator
    expires the member's session, and the client never notices. Java's client loops while a rejoin
    is needed *or pending* (rejoinNeededOrPending); asking for a rejoin here restores that.
    """
    coordinator = consumer._coordinator
    if coordinator._join_task is not None and not coordinator.need_rejoin():
        logging.getLogger(__name__).warning("kafka-python left a join round unfinished; rejoining")
        coordinator.request_rejoin()


def confluent_kafka(args: argparse.Namespace, closing: threading.Event) -> None:
    from confluent_kafka import Consumer, KafkaException

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": args.name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "partition.assignment.strategy": ",".join(args.assignors),
        "reconnect.backoff.max.ms": 1000,
    }
    if args.instance_id is not None:
        config["group.instance.id"] = args.instance_id

    def on(event: str) -> Callable[[Any, Any], None]:
        return lambda _, partitions: emit(event, partitions=sorted(tp.partition for tp in partitions))

    consumer = Consumer(config)
    consumer.subscribe([args.topic], on_assign=on("assigned"), on_revoke=on("revoked"))
    while not closing.is_set():
        messages = [m for m in consumer.consume(args.max_records, 0.2) if m.error() is None]
        if not messages:
            continue
        records_event((m.partition(), m.offset(), m.value()) for m in messages)
        time.sleep(args.delay_ms / 1000)
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            emit("commit-failed", error=repr(exc))
    consumer.close()


def confluent_kafka_consumer_protocol(args: argparse.Namespace, closing: threading.Event) -> None:
    """The consumer protocol: partitions come and go incrementally, so each event reports the whole assignment."""
    from confluent_kafka import Consumer, KafkaException

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": args.name,
        "group.protocol": "consumer",
        "group.remote.assignor": args.assignors[0],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "reconnect.backoff.max.ms": 1000,
        "topic.metadata.refresh.interval.ms": 1000,
    }
    if args.instance_id is not None:
        config["group.instance.id"] = args.instance_id
    owned: set[int] = set()

    def assigned(consumer: Any, partitions: Any) -> None:
        owned.update(tp.partition for tp in partitions)
        emit("assigned", partitions=sorted(owned))

    def revoked(consumer: Any, partitions: Any) -> None:
        gone = {tp.partition for tp in partitions}
        owned.difference_update(gone)
        emit("revoked", partitions=sorted(gone))

    consumer = Consumer(config)
    consumer.subscribe([args.topic], on_assign=assigned, on_revoke=revoked, on_lost=revoked)
    while not closing.is_set():
        messages = [m for m in consumer.consume(args.max_records, 0.2) if m.error() is None]
        if not messages:
            continue
        records_event((m.partition(), m.offset(), m.value()) for m in messages)
        time.sleep(args.delay_ms / 1000)
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            emit("commit-failed", error=repr(exc))
    consumer.close()


def aiokafka(args: argparse.Namespace, closing: threading.Event) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from aiokafka.errors import KafkaError

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}

    class Listener(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked: Any) -> None:
            emit("revoked", partitions=sorted(tp.partition for tp in revoked))

        async def on_partitions_assigned(self, assigned: Any) -> None:
            emit("assigned", partitions=sorted(tp.partition for tp in assigned))

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=args.bootstrap,
            group_id=args.group,
            client_id=args.name,
            group_instance_id=args.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            partition_assignment_strategy=tuple(assignors[name] for name in args.assignors),
            retry_backoff_ms=100,
        )
        consumer.subscribe([args.topic], listener=Listener())
        await consumer.start()
        while not closing.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=args.max_records)
            items = [(r.partition, r.offset, r.value) for records in batches.values() for r in records]
            if not items:
                continue
            records_event(items)
            await asyncio.sleep(args.delay_ms / 1000)
            try:
                await consumer.commit()
            except KafkaError as exc:
                emit("commit-failed", error=repr(exc))
        await consumer.stop()

    asyncio.run(run())


CLIENTS: dict[str, Callable[[argparse.Namespace, threading.Event], None]] = {
    "kafka-python": kafka_python,
    "confluent-kafka": confluent_kafka,
    "aiokafka": aiokafka,
    "confluent-kafka-consumer": confluent_kafka_consumer_protocol,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=list(CLIENTS))
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("name")
    parser.add_argument("--instance-id")
    parser.add_argument("--assignors", type=lambda text: text.split(","), default=["range", "roundrobin"])
    parser.add_argument("--delay-ms", type=int, default=0, help="processing time of each batch")
    parser.add_argument("--max-records", type=int, default=500, help="records per batch at most")
    args = parser.parse_args()
    closing = threading.Event()
    watch_stdin(closing)
    CLIENTS[args.client](args, closing)
    emit("closed")


if __name__ == "__main__":
    main()
