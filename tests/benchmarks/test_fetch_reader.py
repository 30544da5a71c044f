"""The raw Fetch reader counts records from batch headers and ends only at the offsets produced."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest
from confluent_kafka import Producer

from benchmarks.fetch_reader import advance, read_topic
from benchmarks.servers import BenchmarkError, StreamHouseSetup
from benchmarks.throughput import create_topic
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Compression, Record, build_batch


def batch(base_offset: int, records: int) -> bytes:
    return build_batch([Record(key=None, value=b"v")] * records, base_offset=base_offset, compression=Compression.NONE)


def test_advance_moves_past_whole_batches_and_skips_a_cut_one() -> None:
    offsets = {3: 10}
    cut = batch(15, 4)[:-5]  # a fetch response may end inside a batch
    answer = SimpleNamespace(partition_index=3, error_code=0, records=batch(10, 2) + batch(12, 3) + cut)
    assert advance(answer, offsets) == 5
    assert offsets == {3: 15}
    assert advance(SimpleNamespace(partition_index=3, error_code=0, records=None), offsets) == 0
    assert offsets == {3: 15}


def test_advance_fails_on_a_partition_error() -> None:
    answer = SimpleNamespace(partition_index=0, error_code=ErrorCode.OFFSET_OUT_OF_RANGE, records=None)
    with pytest.raises(BenchmarkError, match="error 1 for partition 0"):
        advance(answer, {0: 0})


def test_read_topic_reads_to_the_produced_offsets_and_fails_when_records_are_missing(tmp_path: Path) -> None:
    with ExitStack() as stack:
        server = StreamHouseSetup().start(tmp_path, stack)
        create_topic(server.bootstrap, "raw", 2)
        producer = Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 5})
        for index in range(300):
            producer.produce("raw", b"x" * 100, partition=index % 2)
        assert producer.flush(30) == 0

        result = read_topic(server, "raw", {0: 150, 1: 150}, stall=10)
        assert result.records == 300
        assert result.fetches >= 1

        with pytest.raises(BenchmarkError, match="then nothing for 1 s"):
            read_topic(server, "raw", {0: 150, 1: 151}, stall=1)
