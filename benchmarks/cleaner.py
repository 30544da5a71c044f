"""The log cleaner's throughput, and produce throughput while it runs.

Run: `python -m benchmarks.cleaner` (quick: `--records 50000`), with the broker options of
benchmarks/servers.py (`--storage s3`, `--metadata postgresql`, `--broker-arg=...`). One broker with
`--log-cleaner-interval-ms 1000`:

1. `dirty` (one partition, cleanup.policy=delete, segment.ms=100) gets `--records` keyed records of
   `--size` bytes over `--keys` keys, then one more record a little later so that they all lie before
   the active segment;
2. produce alone: `--records` records of `--size` bytes to `load-before` (one confluent-kafka
   producer, acks=all, linger 5 ms), timed from the first send to the last delivery report;
3. `dirty` is altered to cleanup.policy=compact (min.cleanable.dirty.ratio=0.01), and at once the same
   producer sends to `load-during`, 10,000 records at a time, until the cleaner's pass has ended: the
   produce MB/s while it cleans, over a time that holds the whole pass;
4. the cleaner's pass over `dirty`, read from the broker's log line (`cleaned ... in X s`): MB/s is
   the bytes it read (the stored batches) over the pass's time, reads, decoding, rebuilding, the
   object write and the index swap included.

MB = 10^6 bytes of stored batches for the cleaner, of record values for produce.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from benchmarks.servers import BenchmarkError, StreamHouseSetup, add_streamhouse_options

_CLEANED = re.compile(
    r"cleaned \S+ offsets (\d+)-(\d+) in ([\d.]+) s: (\d+) records removed, (\d+) of (\d+) bytes kept"
)
TIMEOUT = 120.0
CHUNK = 10_000  # records per produce while the cleaner runs


@dataclass(frozen=True)
class CleanerPass:
    seconds: float
    records_removed: int
    bytes_kept: int
    bytes_read: int

    @property
    def mb_per_second(self) -> float:
        return self.bytes_read / 1e6 / self.seconds


def create_topics(bootstrap: str, configs: dict[str, dict[str, str]]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    topics = [NewTopic(name, 1, 1, config=config) for name, config in configs.items()]
    for future in admin.create_topics(topics, request_timeout=TIMEOUT).values():
        future.result(TIMEOUT)


def make_compacted(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    entries = [
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("min.cleanable.dirty.ratio", "0.01", incremental_operation=AlterConfigOpType.SET),
    ]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(TIMEOUT)


def produce(bootstrap: str, topic: str, records: int, size: int, keys: int) -> float:
    """Send the records (keyed when `keys`); returns the seconds from the first send to the last report."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "log_level": 5})
    failures: list[object] = []

    def report(error: object, _: object) -> None:
        if error is not None:
            failures.append(error)

    value = bytes(index % 251 for index in range(size))
    started = time.monotonic()
    for index in range(records):
        key = f"key-{index % keys}".encode() if keys else None
        while True:
            try:
                producer.produce(topic, value, key, 0, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(TIMEOUT) != 0 or failures:
        raise BenchmarkError(f"produce to {topic} failed: {failures[:3]}")
    return time.monotonic() - started


def cleaner_pass(output: list[str], seen: int) -> CleanerPass | None:
    """The first cleaner log line after the first `seen` lines of the broker's output, if there is one yet."""
    for line in output[seen:]:
        match = _CLEANED.search(line)
        if match:
            _, _, seconds, removed, kept, read = match.groups()
            return CleanerPass(float(seconds), int(removed), int(kept), int(read))
    return None


def produce_while_cleaning(bootstrap: str, size: int, output: list[str], seen: int) -> tuple[int, float, CleanerPass]:
    """Produce to load-during until the cleaner's pass is logged: records sent, seconds, and the pass."""
    sent = 0
    seconds = 0.0
    deadline = time.monotonic() + TIMEOUT
    while (cleaned := cleaner_pass(output, seen)) is None:
        if time.monotonic() > deadline:
            raise BenchmarkError("the cleaner did not clean the topic within the timeout")
        seconds += produce(bootstrap, "load-during", CHUNK, size, 0)
        sent += CHUNK
    return sent, seconds, cleaned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000, help="records per phase (default 200,000)")
    parser.add_argument("--size", type=int, default=200, help="bytes per record value (default 200)")
    parser.add_argument("--keys", type=int, default=1000, help="keys of the topic cleaned (default 1,000)")
    add_streamhouse_options(parser)
    args = parser.parse_args()
    setup = StreamHouseSetup.from_args(args)
    setup = StreamHouseSetup(
        setup.storage, setup.s3_endpoint, setup.s3_region, setup.metadata, setup.metrics,
        ["--log-cleaner-interval-ms", "1000", *setup.broker_args],
    )  # fmt: skip
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cleaner-bench-")))
        server = setup.start(data_dir, stack)
        bootstrap = server.bootstrap
        rolling = {"segment.ms": "100", "retention.ms": "-1"}
        create_topics(bootstrap, {"dirty": rolling, "load-before": {}, "load-during": {}})
        produce(bootstrap, "dirty", args.records, args.size, args.keys)
        time.sleep(0.3)
        produce(bootstrap, "dirty", 1, args.size, 1)  # rolls a segment: the records above become cleanable
        alone = produce(bootstrap, "load-before", args.records, args.size, 0)
        seen = len(server.process.output)
        make_compacted(bootstrap, "dirty")
        sent, during, cleaned = produce_while_cleaning(bootstrap, args.size, server.process.output, seen)
    mb = args.records * args.size / 1e6
    print(f"storage: {server.storage.description}")
    print(
        f"cleaner: {cleaned.bytes_read / 1e6:.1f} MB read, {cleaned.bytes_kept / 1e6:.3f} MB kept, "
        f"{cleaned.records_removed} records removed in {cleaned.seconds:.2f} s: {cleaned.mb_per_second:.1f} MB/s"
    )
    print(f"produce alone:            {mb / alone:.1f} MB/s ({args.records / alone:,.0f} msg/s)")
    print(
        f"produce while it cleaned: {sent * args.size / 1e6 / during:.1f} MB/s ({sent / during:,.0f} msg/s), "
        f"{sent} records over {during:.1f} s"
    )


if __name__ == "__main__":
    main()
