"""A request sees the effects of every earlier request on its connection, pipelined or not, as on Kafka.

Each pair of requests leaves in one send, before either is answered: the second must see what the first did.
"""

from __future__ import annotations

from streamhouse.protocol import wire
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.delete_records import DELETE_RECORDS
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.produce import PRODUCE as PRODUCE_API
from streamhouse.protocol.records import Record, build_batch
from tests.brokerproc import BrokerProcess
from tests.wireclient import WireClient, produce_body

ROUNDS = 10
EARLIEST = -2  # ListOffsets' timestamp for the log start


def delete_records_frame(correlation_id: int, topic: str, offset: int) -> bytes:
    wanted = DELETE_RECORDS.Request.DeleteRecordsTopic
    body = DELETE_RECORDS.Request(
        topics=[wanted(name=topic, partitions=[wanted.DeleteRecordsPartition(partition_index=0, offset=offset)])],
        timeout_ms=30_000,
    )
    return wire.encode_request(DELETE_RECORDS, 2, correlation_id, "order-test", body)


def log_start_frame(correlation_id: int, topic: str) -> bytes:
    wanted = LIST_OFFSETS.Request.ListOffsetsTopic
    partition = wanted.ListOffsetsPartition(partition_index=0, timestamp=EARLIEST)
    body = LIST_OFFSETS.Request(replica_id=-1, isolation_level=0, topics=[wanted(name=topic, partitions=[partition])])
    return wire.encode_request(LIST_OFFSETS, 7, correlation_id, "order-test", body)


def test_a_list_offsets_pipelined_behind_delete_records_sees_the_new_log_start(broker: BrokerProcess) -> None:
    topic = "order-delete-records"
    with WireClient(broker.bootstrap) as client:
        create = CREATE_TOPICS.Request.CreatableTopic(
            name=topic, num_partitions=1, replication_factor=1, assignments=[], configs=[]
        )
        created = client.request(CREATE_TOPICS, 5, CREATE_TOPICS.Request(topics=[create], timeout_ms=30_000))
        assert created.topics[0].error_code == 0
        records = build_batch([Record(key=None, value=b"x") for _ in range(ROUNDS + 1)])
        produced = client.call(PRODUCE_API, produce_body(topic, records))[1]
        assert produced.responses[0].partition_responses[0].error_code == 0
        seen = []
        for offset in range(1, ROUNDS + 1):
            client.send_raw(delete_records_frame(2 * offset, topic, offset) + log_start_frame(2 * offset + 1, topic))
            correlation, deleted = wire.decode_response(DELETE_RECORDS, 2, client.receive_frame())
            partition = deleted.topics[0].partitions[0]
            assert (correlation, partition.error_code, partition.low_watermark) == (2 * offset, 0, offset)
            correlation, listed = wire.decode_response(LIST_OFFSETS, 7, client.receive_frame())
            assert correlation == 2 * offset + 1 and listed.topics[0].partitions[0].error_code == 0
            seen.append(listed.topics[0].partitions[0].offset)
    assert seen == list(range(1, ROUNDS + 1))


def test_a_metadata_pipelined_behind_create_topics_sees_the_topic(broker: BrokerProcess) -> None:
    seen = []
    with WireClient(broker.bootstrap) as client:
        for index in range(ROUNDS):
            topic = f"order-created-{index}"
            create = CREATE_TOPICS.Request.CreatableTopic(
                name=topic, num_partitions=3, replication_factor=1, assignments=[], configs=[]
            )
            create_body = CREATE_TOPICS.Request(topics=[create], timeout_ms=30_000)
            metadata_body = METADATA.Request(
                topics=[METADATA.Request.MetadataRequestTopic(name=topic)], allow_auto_topic_creation=False
            )
            client.send_raw(
                wire.encode_request(CREATE_TOPICS, 5, 2 * index, "order-test", create_body)
                + wire.encode_request(METADATA, 12, 2 * index + 1, "order-test", metadata_body)
            )
            correlation, created = wire.decode_response(CREATE_TOPICS, 5, client.receive_frame())
            assert (correlation, created.topics[0].error_code) == (2 * index, 0)
            correlation, described = wire.decode_response(METADATA, 12, client.receive_frame())
            assert correlation == 2 * index + 1
            found = described.topics[0]
            seen.append((found.name, found.error_code, len(found.partitions)))
    # Without the order, the Metadata could answer UNKNOWN_TOPIC_OR_PARTITION (3).
    assert seen == [(f"order-created-{index}", 0, 3) for index in range(ROUNDS)]
