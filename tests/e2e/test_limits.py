"""Hostile names and sizes against a live broker (issue 29): each answer is the Kafka error code asserted.

Kafka's internal topics are reserved, topic names colliding on '.' and '_' are refused, group ids and
offset metadata are bounded and a refused commit stores nothing, label values of /metrics name only
what exists, the all-topics Metadata answer (cached) follows creates and deletes, and a compacted
topic's key scan of a large batch (in a worker thread) still answers INVALID_RECORD.
"""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest

from streamhouse.broker.groups.table import MAX_GROUP_ID_LENGTH
from streamhouse.broker.metrics import UNKNOWN_LABEL
from streamhouse.protocol.apis.add_offsets_to_txn import ADD_OFFSETS_TO_TXN
from streamhouse.protocol.apis.create_topics import CREATE_TOPICS
from streamhouse.protocol.apis.delete_groups import DELETE_GROUPS
from streamhouse.protocol.apis.delete_topics import DELETE_TOPICS
from streamhouse.protocol.apis.fetch import FETCH
from streamhouse.protocol.apis.init_producer_id import INIT_PRODUCER_ID
from streamhouse.protocol.apis.list_groups import LIST_GROUPS
from streamhouse.protocol.apis.list_offsets import LIST_OFFSETS
from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.apis.offset_commit import OFFSET_COMMIT
from streamhouse.protocol.apis.offset_fetch import OFFSET_FETCH
from streamhouse.protocol.apis.produce import PRODUCE
from streamhouse.protocol.apis.txn_offset_commit import TXN_OFFSET_COMMIT
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch
from tests.brokerproc import BrokerProcess
from tests.wireclient import WireClient, produce_body

TIMEOUT = 30.0
INTERNAL = ("__consumer_offsets", "__transaction_state")


def _partition_error(response: Any) -> int:
    return int(response.responses[0].partition_responses[0].error_code)


def _create(client: WireClient, name: str, partitions: int = 1, configs: dict[str, str] | None = None) -> Any:
    topic = CREATE_TOPICS.Request.CreatableTopic
    wanted = topic(
        name=name,
        num_partitions=partitions,
        replication_factor=1,
        assignments=[],
        configs=[topic.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()],
    )
    return client.request(CREATE_TOPICS, 7, CREATE_TOPICS.Request(topics=[wanted])).topics[0]


def _all_topics(client: WireClient, version: int = 12) -> dict[str, Any]:
    every_topic = METADATA.Request(topics=None if version else [])  # v0 asks for all with an empty list
    return {topic.name: topic for topic in client.request(METADATA, version, every_topic).topics}


def _fetch(client: WireClient, topic: str, partitions: list[int], offset: int = 0) -> Any:
    fetch_topic = FETCH.Request.FetchTopic
    wanted = [
        fetch_topic.FetchPartition(partition=p, fetch_offset=offset, partition_max_bytes=1 << 20) for p in partitions
    ]
    body = FETCH.Request(
        max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, topics=[fetch_topic(topic=topic, partitions=wanted)]
    )
    return client.request(FETCH, 12, body).responses[0].partitions


def _commit(client: WireClient, group: str, topic: str, metadata: str | None = None) -> int:
    request_topic = OFFSET_COMMIT.Request.OffsetCommitRequestTopic
    partition = request_topic.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=1, committed_leader_epoch=-1, committed_metadata=metadata
    )
    body = OFFSET_COMMIT.Request(group_id=group, topics=[request_topic(name=topic, partitions=[partition])])
    return int(client.request(OFFSET_COMMIT, 8, body).topics[0].partitions[0].error_code)


def _listed_groups(client: WireClient) -> set[str]:
    return {group.group_id for group in client.request(LIST_GROUPS, 4, LIST_GROUPS.Request(states_filter=[])).groups}


def _metrics(broker: BrokerProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics", timeout=TIMEOUT) as response:
        return str(response.read().decode())


def _sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}{{(.*)}} (\S+)", line)
        if match is not None and all(f'{key}="{value}"' in match.group(1).split(",") for key, value in labels.items()):
            total += float(match.group(2))
    return total


# -- Kafka's internal topics -------------------------------------------------------


@pytest.mark.parametrize("version", [1, 12])
def test_all_topics_metadata_lists_the_internal_topics_as_internal(broker: BrokerProcess, version: int) -> None:
    with WireClient(broker.bootstrap) as client:
        topics = _all_topics(client, version)
    for name in INTERNAL:
        assert topics[name].error_code == ErrorCode.NONE
        assert topics[name].is_internal is True
        assert len(topics[name].partitions) == 50


def test_produce_to_an_internal_topic_gets_invalid_topic(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        for name in INTERNAL:
            response = client.request(PRODUCE, 9, produce_body(name, build_batch([Record(b"k", b"v")])))
            assert _partition_error(response) == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_creating_an_internal_topic_gets_topic_already_exists(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        for name in INTERNAL:
            assert _create(client, name).error_code == ErrorCode.TOPIC_ALREADY_EXISTS


def test_fetch_and_list_offsets_of_an_internal_topic_answer_an_empty_partition(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        partitions = _fetch(client, "__consumer_offsets", [0, 49])
        assert [(p.error_code, p.high_watermark, bytes(p.records or b"")) for p in partitions] == [
            (ErrorCode.NONE, 0, b""),
            (ErrorCode.NONE, 0, b""),
        ]
        wanted = LIST_OFFSETS.Request.ListOffsetsTopic
        body = LIST_OFFSETS.Request(
            replica_id=-1,
            isolation_level=0,
            topics=[
                wanted(
                    name="__transaction_state",
                    partitions=[
                        wanted.ListOffsetsPartition(partition_index=p, timestamp=t) for p, t in ((0, -1), (1, -2))
                    ],
                )
            ],
        )
        answers = client.request(LIST_OFFSETS, 7, body).topics[0].partitions
        assert [(a.error_code, a.offset) for a in answers] == [(ErrorCode.NONE, 0), (ErrorCode.NONE, 0)]


def test_kafka_python_lists_the_internal_topics_as_internal(broker: BrokerProcess) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    try:
        # Listed (with their partitions), and left out of topics() because they are marked internal.
        assert not set(INTERNAL) & consumer.topics()
        assert consumer.partitions_for_topic("__consumer_offsets") == set(range(50))
    finally:
        consumer.close()


def test_confluent_kafka_produce_to_an_internal_topic_gets_invalid_topic(broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaError, Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.send.max.retries": 0})
    errors: list[KafkaError] = []
    producer.produce("__consumer_offsets", b"v", partition=0, on_delivery=lambda error, _: errors.append(error))
    assert producer.flush(TIMEOUT) == 0
    assert [error.code() for error in errors] == [KafkaError.TOPIC_EXCEPTION]  # INVALID_TOPIC_EXCEPTION (17)


# -- names that collide on '.' and '_' --------------------------------------------


def test_a_topic_name_colliding_on_dot_and_underscore_gets_invalid_topic(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        assert _create(client, "col.lide").error_code == ErrorCode.NONE
        refused = _create(client, "col_lide")
        assert refused.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
        assert "col.lide" in refused.error_message
        # Auto-creation: by Metadata and by Produce.
        asked = METADATA.Request(topics=[METADATA.Request.MetadataRequestTopic(name="col_lide")])
        asked.allow_auto_topic_creation = True
        assert client.request(METADATA, 12, asked).topics[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
        response = client.request(PRODUCE, 9, produce_body("col_lide", build_batch([Record(b"k", b"v")])))
        assert _partition_error(response) == ErrorCode.INVALID_TOPIC_EXCEPTION
        assert "col_lide" not in _all_topics(client)
        assert _create(client, "__consumer.offsets").error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
        # A name freed by a deletion can be taken.
        deleted = client.request(DELETE_TOPICS, 5, DELETE_TOPICS.Request(topic_names=["col.lide"], timeout_ms=30_000))
        assert deleted.responses[0].error_code == ErrorCode.NONE
        assert _create(client, "col_lide").error_code == ErrorCode.NONE


def test_confluent_kafka_admin_gets_invalid_topic_for_a_colliding_name(broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("clash.name", 1, 1)])["clash.name"].result(TIMEOUT)
    with pytest.raises(KafkaException) as refused:
        admin.create_topics([NewTopic("clash_name", 1, 1)])["clash_name"].result(TIMEOUT)
    assert refused.value.args[0].code() == KafkaError.TOPIC_EXCEPTION  # INVALID_TOPIC_EXCEPTION (17)


# -- group ids and offset metadata ------------------------------------------------


def test_a_group_id_above_the_bound_gets_invalid_group_id_and_is_not_stored(broker: BrokerProcess) -> None:
    long_group = "g" * (MAX_GROUP_ID_LENGTH + 1)
    with WireClient(broker.bootstrap) as client:
        assert _create(client, "limits-groups").error_code == ErrorCode.NONE
        assert _commit(client, long_group, "limits-groups") == ErrorCode.INVALID_GROUP_ID
        assert _commit(client, "g" * MAX_GROUP_ID_LENGTH, "limits-groups") == ErrorCode.NONE
        assert long_group not in _listed_groups(client)
        assert "g" * MAX_GROUP_ID_LENGTH in _listed_groups(client)


def test_confluent_kafka_consumer_with_a_group_id_above_the_bound_gets_invalid_group_id(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, KafkaError

    with WireClient(broker.bootstrap) as client:
        assert _create(client, "limits-long-group").error_code == ErrorCode.NONE
    long_group = "c" * (MAX_GROUP_ID_LENGTH + 1)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": long_group})
    try:
        consumer.subscribe(["limits-long-group"])
        errors = []
        for _ in range(40):
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                errors.append(message.error().code())
                break
        assert errors == [KafkaError.INVALID_GROUP_ID]  # JoinGroup answered 24
    finally:
        consumer.close()
    with WireClient(broker.bootstrap) as client:
        assert long_group not in _listed_groups(client)


def test_offset_metadata_too_large_stores_nothing_and_creates_no_group(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        assert _create(client, "limits-metadata").error_code == ErrorCode.NONE
        assert _commit(client, "big-metadata", "limits-metadata", "m" * 4097) == ErrorCode.OFFSET_METADATA_TOO_LARGE
        assert "big-metadata" not in _listed_groups(client)
        fetch_group = OFFSET_FETCH.Request.OffsetFetchRequestGroup
        body = OFFSET_FETCH.Request(
            groups=[
                fetch_group(
                    group_id="big-metadata",
                    topics=[fetch_group.OffsetFetchRequestTopics(name="limits-metadata", partition_indexes=[0])],
                )
            ]
        )
        answer = client.request(OFFSET_FETCH, 8, body).groups[0].topics[0].partitions[0]
        assert (answer.error_code, answer.committed_offset) == (ErrorCode.NONE, -1)
        assert _commit(client, "big-metadata", "limits-metadata", "m" * 4096) == ErrorCode.NONE


def test_txn_offset_commit_metadata_too_large_stores_nothing_and_creates_no_group(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        assert _create(client, "limits-txn-metadata").error_code == ErrorCode.NONE
        init = client.request(
            INIT_PRODUCER_ID, 3, INIT_PRODUCER_ID.Request(transactional_id="limits-tx", transaction_timeout_ms=60_000)
        )
        assert init.error_code == ErrorCode.NONE
        ids = {"transactional_id": "limits-tx", "producer_id": init.producer_id, "producer_epoch": init.producer_epoch}
        added = client.request(ADD_OFFSETS_TO_TXN, 3, ADD_OFFSETS_TO_TXN.Request(group_id="txn-big-metadata", **ids))
        assert added.error_code == ErrorCode.NONE
        topic = TXN_OFFSET_COMMIT.Request.TxnOffsetCommitRequestTopic
        partition = topic.TxnOffsetCommitRequestPartition(
            partition_index=0, committed_offset=0, committed_leader_epoch=-1, committed_metadata="m" * 4097
        )
        body = TXN_OFFSET_COMMIT.Request(
            group_id="txn-big-metadata", topics=[topic(name="limits-txn-metadata", partitions=[partition])], **ids
        )
        answer = client.request(TXN_OFFSET_COMMIT, 3, body).topics[0].partitions[0]
        assert answer.error_code == ErrorCode.OFFSET_METADATA_TOO_LARGE
        assert "txn-big-metadata" not in _listed_groups(client)


# -- bounded labels ---------------------------------------------------------------


def test_invalid_topic_names_and_group_ids_are_counted_under_one_label(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        for number in range(40):
            response = client.request(
                PRODUCE, 9, produce_body(f"bad name {number}!", build_batch([Record(None, b"v")]))
            )
            assert _partition_error(response) == ErrorCode.INVALID_TOPIC_EXCEPTION
        assert _create(client, "limits-labels").error_code == ErrorCode.NONE
        assert _commit(client, "x" * (MAX_GROUP_ID_LENGTH + 5), "limits-labels") == ErrorCode.INVALID_GROUP_ID
    text = _metrics(broker)
    assert "bad name" not in text
    assert "x" * MAX_GROUP_ID_LENGTH not in text
    unknown_topic = _sample(text, "streamhouse_producer_errors_total", topic=UNKNOWN_LABEL)
    assert unknown_topic >= 40
    assert _sample(text, "streamhouse_consumer_errors_total", consumer_group=UNKNOWN_LABEL) >= 1


def test_a_deleted_topics_series_are_removed(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        assert _create(client, "limits-doomed").error_code == ErrorCode.NONE
        response = client.request(PRODUCE, 9, produce_body("limits-doomed", build_batch([Record(b"k", b"v")])))
        assert _partition_error(response) == ErrorCode.NONE
        assert 'topic="limits-doomed"' in _metrics(broker)
        deleted = client.request(
            DELETE_TOPICS, 5, DELETE_TOPICS.Request(topic_names=["limits-doomed"], timeout_ms=30_000)
        )
        assert deleted.responses[0].error_code == ErrorCode.NONE
    assert 'topic="limits-doomed"' not in _metrics(broker)


def test_a_deleted_groups_series_are_removed(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as client:
        assert _create(client, "limits-group-series").error_code == ErrorCode.NONE
        assert _commit(client, "limits-doomed-group", "limits-group-series") == ErrorCode.NONE
        assert 'consumer_group="limits-doomed-group"' in _metrics(broker)
        deleted = client.request(DELETE_GROUPS, 2, DELETE_GROUPS.Request(groups_names=["limits-doomed-group"]))
        assert deleted.results[0].error_code == ErrorCode.NONE
    assert 'consumer_group="limits-doomed-group"' not in _metrics(broker)


# -- the all-topics Metadata answer, cached --------------------------------------


@pytest.mark.parametrize("version", [0, 1, 12])
def test_the_all_topics_answer_follows_creates_and_deletes(broker: BrokerProcess, version: int) -> None:
    name = f"limits-cached-v{version}"
    with WireClient(broker.bootstrap) as client:
        before = _all_topics(client, version)
        assert _all_topics(client, version).keys() == before.keys()  # the cached answer, again
        assert name not in before
        assert _create(client, name, partitions=3).error_code == ErrorCode.NONE
        created = _all_topics(client, version)
        assert len(created[name].partitions) == 3
        deleted = client.request(DELETE_TOPICS, 5, DELETE_TOPICS.Request(topic_names=[name], timeout_ms=30_000))
        assert deleted.responses[0].error_code == ErrorCode.NONE
        assert name not in _all_topics(client, version)


# -- a compacted topic's key scan in a worker thread ------------------------------


def test_a_large_batch_with_a_keyless_record_to_a_compacted_topic_gets_invalid_record(broker: BrokerProcess) -> None:
    records = [Record(f"k{i}".encode(), b"v") for i in range(5000)]
    records[4321] = Record(None, b"v")
    with WireClient(broker.bootstrap) as client:
        created = _create(client, "limits-compacted", configs={"cleanup.policy": "compact"})
        assert created.error_code == ErrorCode.NONE
        response = client.request(PRODUCE, 9, produce_body("limits-compacted", build_batch(records)))
        answer = response.responses[0].partition_responses[0]
        assert answer.error_code == ErrorCode.INVALID_RECORD
        assert [error.batch_index for error in answer.record_errors] == [4321]
        records[4321] = Record(b"k4321", b"v")
        response = client.request(PRODUCE, 9, produce_body("limits-compacted", build_batch(records)))
        assert _partition_error(response) == ErrorCode.NONE
