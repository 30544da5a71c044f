"""The replica, log-dir, quorum and paging admin calls through stock clients, against `streamhouse serve`.

kafka-python's KafkaAdminClient: elect_leaders, describe_log_dirs, alter_replica_log_dirs,
describe_metadata_quorum, alter/list_partition_reassignments, describe_topic_partitions (paged),
list_config_resources, create_partitions with a replica assignment, and the broker version it
infers from ApiVersions. confluent-kafka's AdminClient (librdkafka): elect_leaders and manual
replica assignments in create_topics and create_partitions. Refusals are checked for their code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.brokerproc import BrokerProcess
from tests.e2e.test_admin_clients import TIMEOUT, outcome

BROKER_ID = 0  # BrokerProcess's default --broker-id


@pytest.fixture
def kafka_admin(broker: BrokerProcess) -> Iterator[Any]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="replicas-e2e", request_timeout_ms=30000)
    yield admin
    admin.close()


def test_kafka_python_replicas_and_log_dirs(broker: BrokerProcess, kafka_admin: Any) -> None:
    import kafka.errors as errors
    from kafka.admin import NewPartitions, NewTopic
    from kafka.structs import TopicPartition, TopicPartitionReplica

    topic = "kp-replicas"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])
    kafka_admin.create_partitions({topic: NewPartitions(3, [[BROKER_ID]])})
    assert len(kafka_admin.describe_topics([topic])[0]["partitions"]) == 3
    with pytest.raises(errors.InvalidReplicationAssignmentError):
        kafka_admin.create_partitions({topic: NewPartitions(4, [[BROKER_ID + 5]])})  # no such broker

    election = kafka_admin.elect_leaders(0, {topic: [0, 1, 2]})
    [(name, partitions)] = [(result[0], result[1]) for result in election.replica_election_results]
    assert name == topic
    assert sorted((p[0], p[1]) for p in partitions) == [(i, errors.ElectionNotNeededError.errno) for i in range(3)]
    with pytest.raises(errors.UnknownTopicOrPartitionError):
        kafka_admin.elect_leaders(0, {topic: [7]})

    [entry] = kafka_admin.describe_log_dirs()
    assert entry["broker"] == BROKER_ID
    [log_dir] = entry["log_dirs"]
    assert log_dir["error_code"] == 0
    assert str(broker.data_dir) in log_dir["log_dir"]  # the object store, under the data folder by default
    [described] = [t for t in log_dir["topics"] if t["name"] == topic]
    assert sorted(p["partition_index"] for p in described["partitions"]) == [0, 1, 2]

    here, elsewhere = TopicPartitionReplica(topic, 0, BROKER_ID), TopicPartitionReplica(topic, 1, BROKER_ID)
    result = kafka_admin.alter_replica_log_dirs({here: log_dir["log_dir"], elsewhere: "/var/lib/kafka/other"})
    assert result == {here: errors.NoError, elsewhere: errors.LogDirNotFoundError}

    tp = TopicPartition(topic, 0)
    assert kafka_admin.alter_partition_reassignments({tp: [BROKER_ID]}) == {tp: None}
    assert kafka_admin.alter_partition_reassignments({tp: None}) == {tp: errors.NoReassignmentInProgressError}
    assert kafka_admin.alter_partition_reassignments({tp: [BROKER_ID, 9]}) == {
        tp: errors.InvalidReplicationAssignmentError
    }
    assert kafka_admin.list_partition_reassignments() == {}
    assert kafka_admin.list_partition_reassignments([tp]) == {}


def test_kafka_python_quorum_pages_and_config_resources(broker: BrokerProcess, kafka_admin: Any) -> None:
    from kafka.admin import NewTopic

    topic = "kp-paged"
    kafka_admin.create_topics([NewTopic(topic, 3, 1)])

    quorum = kafka_admin.describe_metadata_quorum()
    [partition] = quorum["topics"][0]["partitions"]
    assert partition["error"] is None
    assert partition["leader_id"] == BROKER_ID
    assert [voter["replica_id"] for voter in partition["current_voters"]] == [BROKER_ID]
    assert [node["node_id"] for node in quorum["nodes"]] == [BROKER_ID]

    seen = []
    cursor = None
    while True:
        page = kafka_admin.describe_topic_partitions([topic], response_partition_limit=1, cursor=cursor)
        seen += [(t["name"], p["partition_index"], p["leader_id"]) for t in page["topics"] for p in t["partitions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [(topic, index, BROKER_ID) for index in range(3)]
    [missing] = kafka_admin.describe_topic_partitions(["kp-absent"])["topics"]
    assert missing["error_code"] == 3  # UNKNOWN_TOPIC_OR_PARTITION

    resources = kafka_admin.list_config_resources()
    assert resources["broker"] == [str(BROKER_ID)]
    assert topic in resources["topic"]


def test_kafka_python_infers_kafka_4_2(broker: BrokerProcess) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, api_version=None)
    try:
        assert consumer.config["api_version"] == (4, 2)  # from ListOffsets v11
    finally:
        consumer.close()


def test_confluent_elections_and_assignments(broker: BrokerProcess) -> None:
    from confluent_kafka import ElectionType, TopicPartition
    from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = "ck-assigned"
    created = admin.create_topics([NewTopic(topic, 2, replica_assignment=[[BROKER_ID], [BROKER_ID]])])
    assert outcome(created) == {topic: None}
    refused = outcome(admin.create_topics([NewTopic("ck-misassigned", 1, replica_assignment=[[BROKER_ID + 3]])]))
    assert refused["ck-misassigned"].code() == 39  # INVALID_REPLICA_ASSIGNMENT: no such broker
    grown = outcome(admin.create_partitions([NewPartitions(topic, 3, replica_assignment=[[BROKER_ID]])]))
    assert grown == {topic: None}

    partitions = [TopicPartition(topic, index) for index in range(3)]
    results = admin.elect_leaders(ElectionType.PREFERRED, partitions).result(TIMEOUT)
    assert {(tp.partition, error.code() if error else None) for tp, error in results.items()} == {
        (index, 84)
        for index in range(3)  # ELECTION_NOT_NEEDED
    }
    results = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 9)]).result(TIMEOUT)
    [error] = results.values()
    assert error is not None and error.code() == 3  # UNKNOWN_TOPIC_OR_PARTITION
