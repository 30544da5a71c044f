"""Requests pipelined on one connection see each other's effects in arrival order, as on Kafka.

librdkafka's 0030_offset_commit commits asynchronously and asks committed() right after, on the
same coordinator connection: the OffsetFetch must see the OffsetCommit sent before it.
librdkafka also pipelines produce requests without a limit (max.in.flight 1,000,000 by default).
"""

from __future__ import annotations

from pathlib import Path

from streamhouse.protocol import wire
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.records import Record, build_batch
from tests.brokerproc import BrokerProcess
from tests.wireclient import WireClient, produce_body

TOPIC = "pipelined-offsets"
ROUNDS = 30


def commit_request(correlation_id: int, group: str, offset: int) -> bytes:
    topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
    partition = topic.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=offset, committed_leader_epoch=-1, committed_metadata=None
    )
    body = OFFSET_COMMIT.Request(group_id=group, topics=[topic(name=TOPIC, partitions=[partition])])
    return wire.encode_request(OFFSET_COMMIT, 8, correlation_id, "pipeline-test", body)


def fetch_request(correlation_id: int, group: str) -> bytes:
    wanted = OFFSET_FETCH.Request.OffsetFetchRequestGroup
    body = OFFSET_FETCH.Request(
        groups=[wanted(group_id=group, topics=[wanted.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=[0])])]
    )
    return wire.encode_request(OFFSET_FETCH, 8, correlation_id, "pipeline-test", body)


def test_an_offset_fetch_pipelined_behind_a_commit_sees_it(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        topic = METADATA.Request.MetadataRequestTopic(name=TOPIC)
        created = client.request(METADATA, 12, METADATA.Request(topics=[topic], allow_auto_topic_creation=True))
        assert created.topics[0].error_code in (0, 5)  # created now, or LEADER_NOT_AVAILABLE while it is
        seen: list[int] = []
        for round_number in range(ROUNDS):
            group = f"pipelined-{round_number}"
            # Both frames leave in one send, before either is answered.
            client.send_raw(
                commit_request(2 * round_number, group, 100 + round_number) + fetch_request(2 * round_number + 1, group)
            )
            correlation, committed = wire.decode_response(OFFSET_COMMIT, 8, client.receive_frame())
            assert (correlation, committed.topics[0].partitions[0].error_code) == (2 * round_number, 0)
            correlation, fetched = wire.decode_response(OFFSET_FETCH, 8, client.receive_frame())
            assert correlation == 2 * round_number + 1
            seen.append(fetched.groups[0].topics[0].partitions[0].committed_offset)
    assert seen == [100 + round_number for round_number in range(ROUNDS)]


NO_COMPACTION_MS = str(24 * 3600 * 1000)


def produce_request(correlation_id: int, topic: str, value: bytes) -> bytes:
    body = produce_body(topic, build_batch([Record(key=None, value=value)]))
    return wire.encode_request(PRODUCE, 9, correlation_id, "pipeline-test", body)


def pipeline_produce(data_dir: Path, flags: list[str], values: list[bytes]) -> int:
    """Send one Produce request per value in one go on one connection; check every answer; the flush objects."""
    topic = "pipelined-produce"
    broker = BrokerProcess(data_dir, [*flags, "--compaction-interval-ms", NO_COMPACTION_MS])
    broker.start()
    try:
        with WireClient(broker.bootstrap) as client:
            wanted = METADATA.Request.MetadataRequestTopic(name=topic)
            created = client.request(METADATA, 12, METADATA.Request(topics=[wanted], allow_auto_topic_creation=True))
            assert created.topics[0].error_code in (0, 5)
            client.send_raw(b"".join(produce_request(index, topic, value) for index, value in enumerate(values)))
            answers = [wire.decode_response(PRODUCE, 9, client.receive_frame()) for _ in values]
        flush_objects = len(broker.stored_objects("flush/"))
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]
    assert [correlation for correlation, _ in answers] == list(range(len(values)))
    offsets = [answer.responses[0].partition_responses[0] for _, answer in answers]
    assert [(partition.error_code, partition.base_offset) for partition in offsets] == [
        (0, index) for index in range(len(values))
    ]
    return flush_objects


def test_hundreds_of_pipelined_produce_requests_are_all_read_into_one_flush(tmp_path: Path) -> None:
    """All of them are read while the first flush waits: none is held back in the socket for later flushes.

    A cap of 64 requests being handled per connection held the rest back until a flush ended: on S3
    (a flush every ~50 ms) librdkafka's produce latency at 2,000 small requests a second grew to seconds.
    """
    values = [b"pipelined-%d" % index for index in range(300)]
    flush_objects = pipeline_produce(tmp_path, ["--flush-ms", "500"], values)
    assert 1 <= flush_objects <= 2  # a cap of 64 requests per connection took three


def test_a_connection_stops_reading_while_its_requests_in_flight_hold_64_mib(tmp_path: Path) -> None:
    """90 MB of pipelined requests: about 64 MiB of them make the first flush, the rest are read after it.

    The flush waits 2 s and a flush is never cut short by size here, so all of them would make one
    flush if the broker read them all at once.
    """
    values = [bytes([index]) * 900_000 for index in range(100)]
    flags = ["--flush-ms", "2000", "--flush-bytes", str(1 << 30)]
    assert pipeline_produce(tmp_path, flags, values) == 2
