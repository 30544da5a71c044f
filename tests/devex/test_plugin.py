"""The pytest plugin as an outside project uses it: a folder holding only a test file, run by plain
`pytest` from this environment (where the package is installed, so its pytest11 entry point loads the
plugin), producing and consuming through confluent-kafka."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

OUTSIDE_TEST = """
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

SEEN = []


def consume(bootstrap, topic, count):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values = []
    for _ in range(30):
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            values.append(message.value())
        if len(values) == count:
            break
    consumer.close()
    return values


@pytest.mark.streamhouse_topic(partitions=3)
def test_produce_and_consume(streamhouse_broker, streamhouse_topic):
    SEEN.append(streamhouse_topic)
    producer = Producer({"bootstrap.servers": streamhouse_broker.bootstrap_servers})
    for number in range(10):
        producer.produce(streamhouse_topic, value=b"record-%d" % number, partition=number % 3)
    assert producer.flush(10) == 0
    metadata = producer.list_topics(streamhouse_topic, timeout=10)
    assert len(metadata.topics[streamhouse_topic].partitions) == 3
    values = consume(streamhouse_broker.bootstrap_servers, streamhouse_topic, 10)
    assert sorted(values) == sorted(b"record-%d" % number for number in range(10))


@pytest.mark.parametrize("streamhouse_topic", [{"configs": {"retention.ms": "60000"}}], indirect=True)
def test_a_fresh_topic_with_configs(streamhouse_broker, streamhouse_topic):
    SEEN.append(streamhouse_topic)
    assert len(set(SEEN)) == len(SEEN)  # a topic of its own
    admin = AdminClient({"bootstrap.servers": streamhouse_broker.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, streamhouse_topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["retention.ms"].value == "60000"
    metadata = admin.list_topics(streamhouse_topic, timeout=10)
    assert len(metadata.topics[streamhouse_topic].partitions) == 1  # the default without a marker
"""


def test_an_outside_project_gets_a_broker_and_topics_from_plain_pytest(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_with_streamhouse.py").write_text(OUTSIDE_TEST)
    pytest_command = Path(sys.executable).parent / "pytest"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONPATH", "PYTEST_"))}
    result = subprocess.run(
        [str(pytest_command), "-q"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


OPTIONS_CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def streamhouse_broker_options():
    return {"auto_create_topics": False, "num_partitions": 2}
"""

OPTIONS_TEST = """
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def test_the_broker_takes_the_projects_options(streamhouse_broker):
    admin = AdminClient({"bootstrap.servers": streamhouse_broker.bootstrap_servers})
    admin.create_topics([NewTopic("defaulted", num_partitions=-1)])["defaulted"].result(timeout=10)
    assert len(admin.list_topics("defaulted", timeout=10).topics["defaulted"].partitions) == 2
    producer = Producer({"bootstrap.servers": streamhouse_broker.bootstrap_servers, "message.timeout.ms": 2000})
    errors = []
    producer.produce("never-created", b"x", on_delivery=lambda error, message: errors.append(error))
    producer.flush(10)
    assert errors and errors[0].name() in ("UNKNOWN_TOPIC_OR_PART", "_MSG_TIMED_OUT")
    assert "never-created" not in admin.list_topics(timeout=10).topics
"""


def test_a_project_sets_the_brokers_options_in_its_conftest(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(OPTIONS_CONFTEST)
    (project / "test_options.py").write_text(OPTIONS_TEST)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONPATH", "PYTEST_"))}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pytest"), "-q"], cwd=project, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
