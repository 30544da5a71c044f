"""`python -m benchmarks.soak`: a long run of mixed load on one broker while its servers fail under it.

The broker runs as a subprocess (tests/brokerproc.py) on a throwaway PostgreSQL (tests/pgserver.py)
and a moto S3 server (tests/s3server.py) that it reaches through a fault proxy (tests/faultproxy.py).
For `--minutes` (default 30) it serves, all at once:

- idempotent producers (confluent-kafka, enable.idempotence, acks=all), every record a unique id;
- a transactional producer that commits or aborts at random;
- two consumer groups whose members join and leave every so often, committing what they read;
- a recorder of every group's committed offsets (OffsetFetch through the AdminClient);
- admin calls: create, describe and delete topics, list groups;
- one hostile client on raw sockets: garbage frames, huge frame sizes, half-open connections and a
  client that pipelines requests without ever reading the answers.

Faults at random times between 10% and 85% of the run (each kind `--faults-each` times, default one per
15 minutes): kill -9 of the broker (restarted on the same port), a PostgreSQL restart (stopped for a few
seconds, same data and port), an S3 outage (the proxy refuses connections or answers 503 for a while).

At the end every topic is read back from the beginning with read_committed, and the run checks that each
acknowledged record is there exactly once (and no record of the idempotent producers twice), that
committed transactions are there exactly once and aborted ones not at all, that committed offsets never
went backwards, and that the broker's RSS after warm-up stayed within twice its RSS at the end of
warm-up (5 minutes, or a sixth of a shorter run). Prints the figures (`--json PATH` writes them too);
exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import signal
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from benchmarks.servers import rss_mib
from streamhouse.protocol import wire
from streamhouse.protocol.apis.metadata import METADATA
from tests.brokerproc import BrokerProcess
from tests.faultproxy import FaultProxy
from tests.pgserver import PgServer
from tests.pgserver import start_server as start_pg_server
from tests.s3server import start_server as start_s3_server

IDEMPOTENT_TOPIC = "soak-idempotent"
TRANSACTION_TOPIC = "soak-transactions"
PARTITIONS = {IDEMPOTENT_TOPIC: 6, TRANSACTION_TOPIC: 3}
GROUPS = {"soak-group-idempotent": IDEMPOTENT_TOPIC, "soak-group-transactions": TRANSACTION_TOPIC}
FAULT_KINDS = ("kill-9", "postgres-restart", "s3-outage")
PG_OUTAGE_SECONDS = 5.0
S3_OUTAGE_SECONDS = 20.0
WARM_UP_SECONDS = 300.0
RSS_BOUND_FACTOR = 2.0
CLIENT_TIMEOUT_MS = 180_000  # longer than any outage: a record is retried through it, not failed
READ_BACK_STALL_SECONDS = 300.0  # the read back fails when no partition moves for this long
MAX_MEMBERS = 3


@dataclass
class Figures:
    """What the run did and found; printed at the end."""

    minutes: float = 0.0
    records_sent: int = 0
    records_acknowledged: int = 0
    records_failed: int = 0
    records_acknowledged_twice: int = 0
    producer_fatal_errors: list[str] = field(default_factory=list)
    records_read: int = 0
    acknowledged_missing: int = 0
    records_duplicated: int = 0
    unacknowledged_present: int = 0
    transactions_committed: int = 0
    transactions_aborted: int = 0
    transactions_unknown: int = 0
    transaction_records_read: int = 0
    committed_transactions_missing: int = 0
    committed_transaction_records_duplicated: int = 0
    aborted_transaction_records_read: int = 0
    unknown_transactions_partial: int = 0
    group_joins: int = 0
    group_leaves: int = 0
    group_records_consumed: int = 0
    group_commits: int = 0
    group_commit_errors: int = 0
    offset_fetches: int = 0
    offset_fetch_errors: int = 0
    offset_regressions: list[str] = field(default_factory=list)
    admin_calls: int = 0
    admin_errors: int = 0
    hostile_actions: dict[str, int] = field(default_factory=dict)
    hostile_closed_by_broker: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    unexpected_broker_exits: list[str] = field(default_factory=list)
    broker_tracebacks: int = 0
    rss_mib: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, RSS)
    rss_warm_up_mib: float = 0.0
    rss_bound_mib: float = 0.0
    rss_max_after_warm_up_mib: float = 0.0
    read_back_complete: bool = True
    read_back_seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


class Soak:
    """The servers, the load threads and the ledgers they keep; `run` drives it all."""

    def __init__(self, args: argparse.Namespace, stack: ExitStack, folder: Path) -> None:
        self.args = args
        self.seconds = args.minutes * 60
        self.random = random.Random(args.seed)
        self.figures = Figures(minutes=args.minutes)
        self.lock = threading.Lock()
        self.stop_load = threading.Event()
        self.started = time.monotonic()
        self.pg: PgServer = start_pg_server()
        stack.callback(self.pg.stop)
        s3 = start_s3_server()
        stack.callback(s3.stop)
        self.proxy = FaultProxy("127.0.0.1", int(s3.endpoint.rsplit(":", 1)[1])).start()
        stack.callback(self.proxy.stop)
        dsn = asyncio.run(self.pg.create_database())
        broker_args = [
            "--metadata", dsn, "--storage", f"s3://{s3.create_bucket()}/soak",
            "--s3-endpoint", self.proxy.endpoint, "--s3-region", s3.region, "--metrics-port", "-1",
            "--group-initial-rebalance-delay-ms", "500", *args.broker_arg,
        ]  # fmt: skip
        self.broker = BrokerProcess(folder / "broker", broker_args).start()
        stack.callback(self.broker.kill)
        self.fault_running = threading.Event()  # the broker's exit is ours while set
        # Ledgers: record id -> (partition, offset) of its acknowledgement; ids sent but failed.
        self.acknowledged: dict[str, tuple[int, int]] = {}
        self.failed: set[str] = set()
        self.transactions: dict[str, tuple[str, int]] = {}  # transaction id -> (outcome, records)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} [{self.elapsed():7.1f} s] {text}", flush=True)

    # -- the run ------------------------------------------------------------------------------------

    def run(self) -> Figures:
        self.create_topics()
        self.started = time.monotonic()
        threads = [
            *(self.thread(self.idempotent_producer, index) for index in range(self.args.producers)),
            self.thread(self.transactional_producer),
            *(self.thread(self.group_manager, group, topic) for group, topic in GROUPS.items()),
            self.thread(self.offset_recorder),
            self.thread(self.admin_caller),
            self.thread(self.hostile_client),
            self.thread(self.rss_sampler),
        ]
        self.drive_faults()
        self.note("load stops")
        self.stop_load.set()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT_MS / 1000 + 60)
            if thread.is_alive():
                self.figures.failures.append(f"thread {thread.name} did not stop")
        self.note("reading every topic back")
        self.check_idempotent_records()
        self.check_transactions()
        self.check_rss()
        self.figures.broker_tracebacks = self.broker.log_text().count("Traceback")
        return self.figures

    def thread(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as error:  # a load thread that dies is a finding, not a crash of the run
                with self.lock:
                    self.figures.failures.append(f"{target.__name__}{args} died: {error!r}")
                self.note(f"{target.__name__}{args} died: {error!r}")

        thread = threading.Thread(target=guarded, name=f"{target.__name__}{args}", daemon=True)
        thread.start()
        return thread

    def create_topics(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        topics = [NewTopic(topic, partitions, 1) for topic, partitions in PARTITIONS.items()]
        for future in admin.create_topics(topics).values():
            future.result(60)

    def fault_schedule(self) -> list[tuple[float, str]]:
        each = self.args.faults_each if self.args.faults_each is not None else max(1, round(self.args.minutes / 15))
        kinds = [kind for kind in FAULT_KINDS for _ in range(each)] if self.args.faults else []
        self.random.shuffle(kinds)
        if not kinds:
            return []
        # Spread over [10%, 85%] of the run: one random time per equal slot, so faults do not overlap.
        start, span = 0.10 * self.seconds, 0.75 * self.seconds / len(kinds)
        return [(start + slot * span + self.random.uniform(0, 0.5 * span), kind) for slot, kind in enumerate(kinds)]

    def drive_faults(self) -> None:
        schedule = self.fault_schedule()
        self.note("faults at " + ", ".join(f"{at:.0f} s {kind}" for at, kind in schedule))
        while self.elapsed() < self.seconds:
            if schedule and self.elapsed() >= schedule[0][0]:
                self.inject(schedule.pop(0)[1])
            self.watch_broker()
            time.sleep(0.5)

    def watch_broker(self) -> None:
        """A broker that exits without being killed here is a finding: note it, then start it again."""
        process = self.broker.process
        if process is None or process.poll() is None:
            return
        tail = "".join(self.broker.output[-20:])
        self.figures.unexpected_broker_exits.append(f"{self.elapsed():.0f} s: code {process.returncode}\n{tail}")
        self.note(f"broker exited by itself with code {process.returncode}; starting it again")
        self.broker.restart()

    def inject(self, kind: str) -> None:
        began = self.elapsed()
        self.note(f"fault: {kind}")
        if kind == "kill-9":
            self.broker.restart(signal.SIGKILL)
            detail = f"broker back after {self.elapsed() - began:.1f} s"
        elif kind == "postgres-restart":
            self.pg.halt()
            time.sleep(PG_OUTAGE_SECONDS)
            self.pg.resume()
            detail = f"PostgreSQL down {self.elapsed() - began:.1f} s"
        else:
            mode = self.random.choice(("closed", "error"))
            with self.proxy.fault(mode):
                time.sleep(S3_OUTAGE_SECONDS)
            detail = f"S3 {'refusing connections' if mode == 'closed' else 'answering 503'} {S3_OUTAGE_SECONDS:.0f} s"
        self.figures.faults.append(f"{began:.0f} s {kind} ({detail})")
        self.note(f"fault over: {kind}, {detail}")

    # -- load ---------------------------------------------------------------------------------------

    def idempotent_producer(self, index: int) -> None:
        """Produces unique ids at --rate records/s; a producer that hits a fatal error is replaced."""
        incarnation = 0
        while not self.stop_load.is_set():
            fatal: list[str] = []

            def on_error(error: KafkaError, fatal: list[str] = fatal) -> None:
                if error.fatal():
                    fatal.append(str(error))

            producer = Producer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "message.timeout.ms": CLIENT_TIMEOUT_MS,
                    "error_cb": on_error,
                }
            )
            sequence, began = 0, time.monotonic()
            while not self.stop_load.is_set() and not fatal:
                # Paced by the clock: poll returns early whenever an acknowledgement comes in.
                while sequence < self.args.rate * (time.monotonic() - began):
                    record_id = f"p{index}.{incarnation}.{sequence}"
                    try:
                        producer.produce(
                            IDEMPOTENT_TOPIC, record_id.encode(), key=record_id.encode(), on_delivery=self.delivered
                        )
                    except BufferError:
                        break  # the client's queue is full (the broker is down): send it later
                    sequence += 1
                    with self.lock:
                        self.figures.records_sent += 1
                producer.poll(0.05)
            producer.flush(CLIENT_TIMEOUT_MS / 1000)
            if fatal:
                with self.lock:
                    self.figures.producer_fatal_errors.append(f"{self.elapsed():.0f} s p{index}: {fatal[0]}")
                self.note(f"idempotent producer p{index} fatal error: {fatal[0]}; a new one takes over")
            incarnation += 1

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        record_id = bytes(message.value() or b"").decode()
        with self.lock:
            if error is not None:
                self.figures.records_failed += 1
                self.failed.add(record_id)
            elif record_id in self.acknowledged:
                self.figures.records_acknowledged_twice += 1
            else:
                self.figures.records_acknowledged += 1
                self.acknowledged[record_id] = (message.partition() or 0, message.offset() or 0)

    def transactional_producer(self) -> None:
        """Transactions of 1-20 records over the partitions, 70% committed, 30% aborted."""
        number = 0
        while not self.stop_load.is_set():
            producer = Producer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "transactional.id": "soak-transactions",
                    "transaction.timeout.ms": 60_000,
                    "message.timeout.ms": 60_000,
                }
            )
            if not self.retry(functools.partial(producer.init_transactions, 30)):
                continue
            while not self.stop_load.is_set():
                transaction_id = f"t{number}"
                number += 1
                outcome = self.one_transaction(producer, transaction_id)
                with self.lock:
                    self.transactions[transaction_id] = outcome
                    key = {"committed": "transactions_committed", "aborted": "transactions_aborted"}
                    attribute = key.get(outcome[0], "transactions_unknown")
                    setattr(self.figures, attribute, getattr(self.figures, attribute) + 1)
                if outcome[0] == "unknown":
                    break  # the producer may be unusable: a new one fences it
                time.sleep(0.2)

    def one_transaction(self, producer: Producer, transaction_id: str) -> tuple[str, int]:
        records = self.random.randint(1, 20)
        commit = self.random.random() < 0.7
        try:
            producer.begin_transaction()
            for index in range(records):
                value = f"{transaction_id}.{index}".encode()
                producer.produce(TRANSACTION_TOPIC, value, key=value)
            if commit:
                if self.retry(lambda: producer.commit_transaction(30)):
                    return "committed", records
                return "unknown", records
        except KafkaException as exception:
            error = exception.args[0]
            if not error.txn_requires_abort():
                return "unknown", records
        if self.retry(lambda: producer.abort_transaction(30)):
            return "aborted", records
        return "unknown", records

    def retry(self, call: Callable[[], None]) -> bool:
        """Calls `call` until it succeeds (True), a non-retriable error or the client timeout (False)."""
        deadline = time.monotonic() + CLIENT_TIMEOUT_MS / 1000
        while True:
            try:
                call()
                return True
            except KafkaException as exception:
                error = exception.args[0]
                if not error.retriable() or time.monotonic() > deadline:
                    self.note(f"giving up on a transaction call: {error}")
                    return False
                time.sleep(1)

    def group_manager(self, group: str, topic: str) -> None:
        """Keeps 1-3 members in the group, one joining or leaving every 10-40 s."""
        members: list[tuple[threading.Thread, threading.Event]] = []
        while not self.stop_load.is_set():
            grow = not members or (len(members) < MAX_MEMBERS and self.random.random() < 0.5)
            if grow:
                leave = threading.Event()
                members.append((self.thread(self.group_member, group, topic, leave), leave))
                with self.lock:
                    self.figures.group_joins += 1
            else:
                thread, leave = members.pop(0)
                leave.set()
                thread.join(60)
                with self.lock:
                    self.figures.group_leaves += 1
            self.stop_load.wait(self.random.uniform(10, 40))
        for _, leave in members:
            leave.set()
        for thread, _ in members:
            thread.join(60)

    def group_member(self, group: str, topic: str, leave: threading.Event) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "session.timeout.ms": 10_000,
            }
        )
        consumer.subscribe([topic])
        try:
            while not leave.is_set() and not self.stop_load.is_set():
                read = [message for message in consumer.consume(500, 1.0) if message.error() is None]
                if not read:
                    continue
                try:
                    consumer.commit(asynchronous=False)
                    committed = True
                except KafkaException:
                    committed = False
                with self.lock:
                    self.figures.group_records_consumed += len(read)
                    self.figures.group_commits += committed
                    self.figures.group_commit_errors += not committed
        finally:
            consumer.close()

    def offset_recorder(self) -> None:
        """Every 2 s, each group's committed offsets; one lower than seen before is a regression.

        Read with Consumer.committed (OffsetFetch from a client that never joins the group): the AdminClient's
        list_consumer_group_offsets crashes librdkafka 2.16 when the answer is COORDINATOR_NOT_AVAILABLE, as
        it is while PostgreSQL is down (it asks the consumer-group handle an AdminClient lacks for a new
        coordinator: confluentinc/librdkafka#5040).
        """
        readers = {
            group: Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False})
            for group in GROUPS
        }
        highest: dict[tuple[str, str, int], int] = {}
        try:
            while not self.stop_load.wait(2.0):
                for group, topic in GROUPS.items():
                    wanted = [TopicPartition(topic, partition) for partition in range(PARTITIONS[topic])]
                    try:
                        partitions = readers[group].committed(wanted, timeout=30)
                    except KafkaException:
                        with self.lock:
                            self.figures.offset_fetch_errors += 1
                        continue
                    with self.lock:
                        self.figures.offset_fetches += 1
                    for partition in partitions:
                        if partition.error is not None:
                            continue
                        self.record_offset(highest, (group, topic, partition.partition), partition.offset)
        finally:
            for reader in readers.values():
                reader.close()

    def record_offset(self, highest: dict[tuple[str, str, int], int], place: tuple[str, str, int], offset: int) -> None:
        seen = highest.get(place)
        if seen is not None and offset < seen:
            text = f"{self.elapsed():.0f} s {place[0]} {place[1]}[{place[2]}]: {seen} -> {offset}"
            with self.lock:
                self.figures.offset_regressions.append(text)
            self.note(f"committed offset went backwards: {text}")
        elif offset >= 0:
            highest[place] = offset  # a regression keeps the highest: it is counted once, not at every fetch

    def admin_caller(self) -> None:
        """Every 5 s: create a topic, describe its configs, list the groups, delete the topic."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        number = 0
        while not self.stop_load.wait(5.0):
            for call in self.admin_calls(admin, f"soak-admin-{number}"):
                try:
                    call()
                    failed = False
                except (KafkaException, TimeoutError):  # TimeoutError: no answer in 30 s
                    failed = True
                with self.lock:
                    self.figures.admin_calls += 1
                    self.figures.admin_errors += failed
            number += 1

    @staticmethod
    def admin_calls(admin: AdminClient, name: str) -> list[Callable[[], object]]:
        describe = [ConfigResource(ResourceType.TOPIC, name)]
        return [
            lambda: admin.create_topics([NewTopic(name, 2, 1)])[name].result(30),
            lambda: [future.result(30) for future in admin.describe_configs(describe).values()],
            lambda: admin.list_consumer_groups().result(30),
            lambda: admin.delete_topics([name])[name].result(30),
        ]

    # -- the hostile client ---------------------------------------------------------------------------

    def hostile_client(self) -> None:
        """One misbehaviour every 3 s, in turn."""
        actions = [self.garbage_frame, self.huge_frame, self.half_open_connections, self.never_reading_pipeliner]
        turn = 0
        while not self.stop_load.wait(3.0):
            action = actions[turn % len(actions)]
            turn += 1
            try:
                closed = action()
            except OSError:
                closed = True  # refused or reset: the broker is down for a fault, or cut us off
            with self.lock:
                name = action.__name__
                self.figures.hostile_actions[name] = self.figures.hostile_actions.get(name, 0) + 1
                self.figures.hostile_closed_by_broker[name] = (
                    self.figures.hostile_closed_by_broker.get(name, 0) + closed
                )

    @contextmanager
    def raw_connection(self) -> Iterator[socket.socket]:
        host, port = self.bootstrap.rsplit(":", 1)
        connection = socket.create_connection((host, int(port)), timeout=10)
        try:
            yield connection
        finally:
            connection.close()

    @staticmethod
    def closed_by_peer(connection: socket.socket) -> bool:
        try:
            while data := connection.recv(65536):
                del data  # an answer, if any, before the close
            return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def garbage_frame(self) -> bool:
        with self.raw_connection() as connection:
            garbage = self.random.randbytes(64)
            connection.sendall(struct.pack(">i", len(garbage)) + garbage)
            return self.closed_by_peer(connection)

    def huge_frame(self) -> bool:
        with self.raw_connection() as connection:
            connection.sendall(struct.pack(">i", 0x7FFF_FFFF) + b"\x00\x03\x00\x00")
            return self.closed_by_peer(connection)

    def half_open_connections(self) -> bool:
        """Twenty connections that send half a size prefix and then nothing, held 10 s."""
        with ExitStack() as stack:
            for _ in range(20):
                stack.enter_context(self.raw_connection()).sendall(b"\x00\x00")
            self.stop_load.wait(10.0)
        return False

    def never_reading_pipeliner(self) -> bool:
        """Metadata requests (all topics) sent for 5 s, or until the broker stops reading, none read."""
        with self.raw_connection() as connection:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            connection.settimeout(0.5)
            deadline = time.monotonic() + 5.0
            correlation = 0
            while time.monotonic() < deadline:
                # Metadata v1 with a null topic list: every topic, the largest answer of a small request.
                request = wire.encode_request(METADATA, 1, correlation, "soak-hostile", METADATA.Request(topics=None))
                try:
                    connection.sendall(request)
                except TimeoutError:
                    break  # the broker stopped reading: the backpressure the test wants
                correlation += 1
        return False

    # -- the broker's memory ------------------------------------------------------------------------

    def rss_sampler(self) -> None:
        while not self.stop_load.wait(5.0):
            process = self.broker.process
            try:
                rss = rss_mib(process.pid) if process is not None else None
            except (OSError, AssertionError):
                rss = None  # between a kill and the restart
            if rss is not None:
                with self.lock:
                    self.figures.rss_mib.append((round(self.elapsed(), 1), round(rss, 1)))

    def check_rss(self) -> None:
        warm_up = min(WARM_UP_SECONDS, self.seconds / 6)
        samples = self.figures.rss_mib
        after = [rss for at, rss in samples if at >= warm_up]
        if not after:
            self.figures.failures.append("no RSS sample after warm-up")
            return
        self.figures.rss_warm_up_mib = after[0]
        self.figures.rss_bound_mib = round(RSS_BOUND_FACTOR * after[0], 1)
        self.figures.rss_max_after_warm_up_mib = max(after)
        if max(after) > self.figures.rss_bound_mib:
            self.figures.failures.append(
                f"RSS {max(after)} MiB after warm-up exceeds the bound {self.figures.rss_bound_mib} MiB"
            )

    # -- reading back ---------------------------------------------------------------------------------

    def read_back(self, topic: str) -> list[bytes]:
        """Every record value of `topic` from the beginning, read_committed, up to each partition's end."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"soak-read-back-{topic}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
            }
        )
        try:
            partitions = consumer.list_topics(topic, 60).topics[topic].partitions
            consumer.assign([TopicPartition(topic, partition, 0) for partition in partitions])
            at_end: set[int] = set()
            values: list[bytes] = []
            began = moved = time.monotonic()
            while len(at_end) < len(partitions):
                if time.monotonic() - moved > READ_BACK_STALL_SECONDS:
                    self.figures.read_back_complete = False
                    self.figures.failures.append(f"read back of {topic} stalled, at the ends of {sorted(at_end)}")
                    break
                messages = consumer.consume(1000, 1.0)
                moved = time.monotonic() if messages else moved
                for message in messages:
                    error = message.error()
                    if error is None:
                        values.append(message.value() or b"")
                        at_end.discard(message.partition() or 0)
                    elif error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition() or 0)
            self.figures.read_back_seconds[topic] = round(time.monotonic() - began, 1)
            return values
        finally:
            consumer.close()

    def check_idempotent_records(self) -> None:
        counts = Counter(value.decode() for value in self.read_back(IDEMPOTENT_TOPIC))
        figures = self.figures
        figures.records_read = sum(counts.values())
        missing = [record_id for record_id in self.acknowledged if counts[record_id] == 0]
        duplicated = [record_id for record_id, count in counts.items() if count > 1]
        figures.acknowledged_missing = len(missing)
        figures.records_duplicated = len(duplicated)
        figures.unacknowledged_present = sum(1 for record_id in self.failed if counts[record_id])
        if missing:
            figures.failures.append(f"{len(missing)} acknowledged records missing, e.g. {self.described(missing)}")
        if duplicated:
            figures.failures.append(f"{len(duplicated)} records in the log more than once, e.g. {duplicated[:5]}")
        if figures.records_acknowledged_twice:
            figures.failures.append(f"{figures.records_acknowledged_twice} records acknowledged twice")
        if figures.producer_fatal_errors:
            figures.failures.append(f"{len(figures.producer_fatal_errors)} fatal errors of idempotent producers")

    def described(self, record_ids: list[str]) -> list[str]:
        return [f"{record_id} at {self.acknowledged[record_id]}" for record_id in sorted(record_ids)[:5]]

    def check_transactions(self) -> None:
        read = Counter(value.decode().rsplit(".", 1)[0] for value in self.read_back(TRANSACTION_TOPIC))
        figures = self.figures
        figures.transaction_records_read = sum(read.values())
        for transaction_id, (outcome, records) in self.transactions.items():
            seen = read[transaction_id]
            if outcome == "committed" and seen < records:
                figures.committed_transactions_missing += 1
            elif outcome == "committed" and seen > records:
                figures.committed_transaction_records_duplicated += seen - records
            elif outcome == "aborted":
                figures.aborted_transaction_records_read += seen
            elif outcome == "unknown" and seen not in (0, records):
                figures.unknown_transactions_partial += 1
        for name in (
            "committed_transactions_missing",
            "committed_transaction_records_duplicated",
            "aborted_transaction_records_read",
            "unknown_transactions_partial",
        ):
            if getattr(figures, name):
                figures.failures.append(f"{name.replace('_', ' ')}: {getattr(figures, name)}")


def summary(figures: Figures) -> str:
    rss = [value for _, value in figures.rss_mib] or [0.0]
    lines = [
        f"soak of {figures.minutes:g} minutes",
        f"idempotent records: sent {figures.records_sent}, acknowledged {figures.records_acknowledged}, "
        f"failed {figures.records_failed}, acknowledged twice {figures.records_acknowledged_twice}",
        f"  read back {figures.records_read}: acknowledged missing {figures.acknowledged_missing}, "
        f"duplicated {figures.records_duplicated}, unacknowledged but present {figures.unacknowledged_present}",
        f"  producer fatal errors: {len(figures.producer_fatal_errors)}",
        f"transactions: committed {figures.transactions_committed}, aborted {figures.transactions_aborted}, "
        f"outcome unknown {figures.transactions_unknown}; records read {figures.transaction_records_read}",
        f"  committed missing {figures.committed_transactions_missing}, committed records duplicated "
        f"{figures.committed_transaction_records_duplicated}, aborted records read "
        f"{figures.aborted_transaction_records_read}, unknown partial {figures.unknown_transactions_partial}",
        f"groups: joins {figures.group_joins}, leaves {figures.group_leaves}, records consumed "
        f"{figures.group_records_consumed}, commits {figures.group_commits} (errors {figures.group_commit_errors})",
        f"committed offsets: fetches {figures.offset_fetches} (errors {figures.offset_fetch_errors}), "
        f"regressions {len(figures.offset_regressions)}",
        f"admin calls {figures.admin_calls} (errors {figures.admin_errors})",
        "hostile client: "
        + ", ".join(
            f"{name} {count} (closed by the broker {figures.hostile_closed_by_broker.get(name, 0)})"
            for name, count in sorted(figures.hostile_actions.items())
        ),
        f"broker RSS MiB: min {min(rss):.0f}, median {statistics.median(rss):.0f}, max {max(rss):.0f} "
        f"({len(figures.rss_mib)} samples); at end of warm-up {figures.rss_warm_up_mib:.0f}, "
        f"bound (x{RSS_BOUND_FACTOR:g}) {figures.rss_bound_mib:.0f}, "
        f"max after warm-up {figures.rss_max_after_warm_up_mib:.0f}",
        f"faults: {'; '.join(figures.faults) or 'none'}",
        "read back in " + ", ".join(f"{topic} {seconds:g} s" for topic, seconds in figures.read_back_seconds.items()),
        f"unexpected broker exits: {len(figures.unexpected_broker_exits)}; tracebacks in the broker log: "
        f"{figures.broker_tracebacks}",
        *(f"regression: {text}" for text in figures.offset_regressions),
        *(f"fatal: {text}" for text in figures.producer_fatal_errors),
        *(f"FAILED: {text}" for text in figures.failures),
        "all checks passed" if not figures.failures else f"{len(figures.failures)} checks failed",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the load (default 30)")
    parser.add_argument("--rate", type=int, default=200, help="records/s of each idempotent producer (default 200)")
    parser.add_argument("--producers", type=int, default=2, help="idempotent producers (default 2)")
    parser.add_argument(
        "--faults-each", type=int, help="injections of each fault kind (default: one per 15 minutes, at least one)"
    )
    parser.add_argument("--no-faults", dest="faults", action="store_false", help="no faults: a smoke run")
    parser.add_argument("--seed", type=int, help="random seed of the fault times and the load's choices")
    parser.add_argument("--broker-arg", action="append", default=[], metavar="FLAG", help="a flag for the broker")
    parser.add_argument("--broker-log", type=Path, help="write the broker's output here at the end")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    # A TERM stops the servers too: SystemExit unwinds the stack that stops them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="streamhouse-soak-")))
        soak = Soak(args, stack, folder)
        try:
            figures = soak.run()
        finally:
            if args.broker_log is not None:
                args.broker_log.write_text(soak.broker.log_text())
    print(summary(figures), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(figures), indent=1))
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
