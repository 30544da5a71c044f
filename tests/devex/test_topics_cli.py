"""`streamhouse topics create|list|describe|delete|alter-config --bootstrap ...` against a broker, over
the Kafka protocol; each refusal is one line and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamhouse import EmbeddedBroker
from tests.securebroker import add_user

pytestmark = pytest.mark.e2e


def topics(broker: EmbeddedBroker, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "streamhouse.broker.cli", "topics", *args, "--bootstrap", broker.bootstrap_servers]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_create_list_describe_alter_delete(streamhouse_broker: EmbeddedBroker) -> None:
    created = topics(streamhouse_broker, "create", "cli-orders", "--partitions", "3", "--config", "retention.ms=60000")
    assert (created.returncode, created.stdout.strip()) == (0, "created topic cli-orders"), created.stderr

    listed = topics(streamhouse_broker, "list")
    assert listed.returncode == 0
    assert "cli-orders" in listed.stdout.split()
    assert "__consumer_offsets" not in listed.stdout.split()
    assert "__consumer_offsets" in topics(streamhouse_broker, "list", "--internal").stdout.split()

    described = topics(streamhouse_broker, "describe", "cli-orders")
    assert described.returncode == 0, described.stderr
    lines = described.stdout.splitlines()
    assert lines[0] == "Topic cli-orders (3 partitions)"
    assert [line.split(":")[0].strip() for line in lines[1:4]] == ["partition 0", "partition 1", "partition 2"]
    assert "  retention.ms=60000" in lines

    altered = topics(streamhouse_broker, "alter-config", "cli-orders", "--set", "cleanup.policy=compact",
                     "--delete", "retention.ms")  # fmt: skip
    assert altered.returncode == 0, altered.stderr
    lines = topics(streamhouse_broker, "describe", "cli-orders").stdout.splitlines()
    assert "  cleanup.policy=compact" in lines
    assert not any(line.startswith("  retention.ms=") for line in lines)

    deleted = topics(streamhouse_broker, "delete", "cli-orders")
    assert (deleted.returncode, deleted.stdout.strip()) == (0, "deleted topic cli-orders"), deleted.stderr
    assert "cli-orders" not in topics(streamhouse_broker, "list").stdout.split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "twice"], "streamhouse topics create: topic twice: TOPIC_ALREADY_EXISTS"),
        (["describe", "no-such-topic"], "streamhouse topics describe: topic no-such-topic: UNKNOWN_TOPIC_OR_PARTITION"),
        (["delete", "no-such-topic"], "streamhouse topics delete: topic no-such-topic: UNKNOWN_TOPIC_OR_PARTITION"),
        (["create", "bad", "--config", "novalue"], "streamhouse topics create: config 'novalue' is not NAME=VALUE"),
        (["alter-config", "twice"], "streamhouse topics alter-config: nothing to alter"),
        (["create", "bad-config", "--config", "no.such.config=1"], "INVALID_CONFIG"),
    ],
)
def test_each_refusal_is_one_line_and_exit_1(streamhouse_broker: EmbeddedBroker, args: list[str], message: str) -> None:
    if "twice" in args and not any(t == "twice" for t in topics(streamhouse_broker, "list").stdout.split()):
        streamhouse_broker.create_topic("twice")
    result = topics(streamhouse_broker, *args)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_an_unreachable_broker_is_one_line() -> None:
    command = [sys.executable, "-m", "streamhouse.broker.cli", "topics", "list", "--bootstrap", "127.0.0.1:1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("streamhouse topics list: cannot connect to 127.0.0.1:1")
    assert len(result.stderr.strip().splitlines()) == 1


def test_topics_over_sasl_with_a_command_config(tmp_path: Path) -> None:
    broker = EmbeddedBroker(
        data_dir="temporary", listeners="SASL_PLAINTEXT://127.0.0.1:0", sasl_mechanisms="SCRAM-SHA-256"
    )
    assert broker.data_dir is not None
    add_user(broker.data_dir, "alice", "alice-secret", "SCRAM-SHA-256")
    config = tmp_path / "client.properties"
    config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
        "sasl.username=alice\nsasl.password=alice-secret\n"
    )
    with broker:
        created = topics(broker, "create", "over-sasl", "--command-config", str(config))
        assert created.returncode == 0, created.stderr
        assert "over-sasl" in topics(broker, "list", "--command-config", str(config)).stdout.split()
        unauthenticated = topics(broker, "list")
        assert unauthenticated.returncode == 1
        assert len(unauthenticated.stderr.strip().splitlines()) == 1, unauthenticated.stderr
        assert "Traceback" not in unauthenticated.stderr
