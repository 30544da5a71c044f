"""Latency at a fixed offered rate, through confluent-kafka (acks=all, linger.ms 0, one partition).

- produce: record i is sent at t0 + i / rate; its latency runs from that scheduled time (so a client
  that falls behind counts its own queueing, no coordinated omission) to its delivery report. The
  sender sleeps between sends and a thread of its own serves the delivery reports (DeliveryPoller: a
  poll loop for pacing would spin a CPU away from the broker).
- end to end: the same paced producer writes its send time (perf_counter_ns) into each value, and a
  consumer thread assigned to the partition from the start records when each value reached it.

p50/p99/p999 in milliseconds, nearest rank. Any failed delivery or missing record fails the run.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, TopicPartition

from benchmarks.servers import BenchmarkError, Server
from benchmarks.throughput import (
    DeliveryPoller,
    confluent_consumer,
    confluent_producer,
    confluent_send,
    create_topic,
    sleep_until,
)

_STAMP = struct.Struct(">q")


@dataclass
class LatencyResult:
    kind: str  # "produce" or "end-to-end"
    rate: int
    records: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    rank = max(0, min(len(sorted_values) - 1, int(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def summarise(kind: str, rate: int, latencies_s: list[float]) -> LatencyResult:
    values = sorted(latencies_s)
    return LatencyResult(
        kind=kind,
        rate=rate,
        records=len(values),
        p50_ms=percentile(values, 0.50) * 1000,
        p99_ms=percentile(values, 0.99) * 1000,
        p999_ms=percentile(values, 0.999) * 1000,
        max_ms=values[-1] * 1000,
    )


def paced_produce(
    bootstrap: str,
    topic: str,
    rate: int,
    count: int,
    value_at: Callable[[int], bytes],
    on_sent: Callable[[int, float, KafkaError | None], None],
    timeout: float,
) -> None:
    """Send `count` records at `rate` per second; on_sent(index, seconds since scheduled send, error)."""
    producer = confluent_producer(bootstrap, "all", 0)
    producer.list_topics(topic, timeout)
    interval = 1.0 / rate
    started = time.perf_counter()

    def reporter(index: int, scheduled: float) -> Callable[[KafkaError | None, Message], None]:
        return lambda error, _message: on_sent(index, time.perf_counter() - scheduled, error)

    with DeliveryPoller(producer):
        for index in range(count):
            scheduled = started + index * interval
            sleep_until(scheduled)
            confluent_send(producer, topic, value_at(index), reporter(index, scheduled))
    if producer.flush(timeout) > 0:
        raise BenchmarkError(f"{topic}: {len(producer)} records undelivered after {timeout:.0f} s")


def produce_latency(
    server: Server, topic: str, rate: int, seconds: float, timeout: float, record_bytes: int = 100
) -> LatencyResult:
    create_topic(server.bootstrap, topic, 1, timeout)
    count = int(rate * seconds)
    latencies: list[float] = []
    errors: list[str] = []

    def on_sent(_index: int, latency: float, error: KafkaError | None) -> None:
        if error is not None:
            errors.append(str(error))
        latencies.append(latency)

    value = bytes(record_bytes)
    paced_produce(server.bootstrap, topic, rate, count, lambda _: value, on_sent, timeout)
    if errors or len(latencies) != count:
        raise BenchmarkError(f"{topic}: {len(errors)} failed deliveries of {count}, first: {errors[:1]}")
    return summarise("produce", rate, latencies)


def end_to_end_latency(server: Server, topic: str, rate: int, seconds: float, timeout: float) -> LatencyResult:
    create_topic(server.bootstrap, topic, 1, timeout)
    count = int(rate * seconds)
    latencies: list[float] = []
    errors: list[str] = []
    consumer = confluent_consumer(server.bootstrap)
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumer.list_topics(topic, timeout)
    stop = threading.Event()

    def receive() -> None:
        # poll, not consume(n, timeout): consume waits for n records or the whole timeout, and that
        # wait, not the broker, was the latency measured.
        while len(latencies) < count and not stop.is_set():
            message = consumer.poll(0.1)
            if message is None:
                continue
            value = message.value()
            if message.error() is not None or value is None:
                errors.append(str(message.error()))
                continue
            latencies.append((time.perf_counter_ns() - _STAMP.unpack_from(value)[0]) / 1e9)

    def on_sent(_index: int, _latency: float, error: KafkaError | None) -> None:
        if error is not None:
            errors.append(str(error))

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    try:
        stamp = _STAMP.pack
        paced_produce(
            server.bootstrap, topic, rate, count, lambda _: stamp(time.perf_counter_ns()) + bytes(92), on_sent, timeout
        )
        receiver.join(timeout)
    finally:
        stop.set()
        receiver.join(5)
        consumer.close()
    if errors or len(latencies) != count:
        raise BenchmarkError(f"{topic}: {len(latencies)} of {count} records received, errors: {errors[:1]}")
    return summarise("end-to-end", rate, latencies)
