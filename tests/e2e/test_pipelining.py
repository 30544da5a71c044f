"""Requests pipelined on one connection see each other's effects in arrival order, as on Kafka.

librdkafka's 0030_offset_commit commits asynchronously and asks committed() right after, on the
same coordinator connection: the OffsetFetch must see the OffsetCommit sent before it.
"""

from __future__ import annotations

from protocol import wire
from protocol.apis.metadata import METADATA
from protocol.apis.offset_commit import OFFSET_COMMIT
from protocol.apis.offset_fetch import OFFSET_FETCH
from tests.brokerproc import BrokerProcess
from tests.wireclient import WireClient

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
