"""EmbeddedBroker: a broker in the calling process on a free port, in memory or on a folder; its
create_topic over the Kafka protocol; a start that fails raises in the caller. And the listener's
connection open and close logged at DEBUG, not INFO."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streamhouse import EmbeddedBroker
from streamhouse.broker.client import BrokerConnection
from streamhouse.broker.topics_command import TopicsError
from streamhouse.protocol.apis.metadata import METADATA
from tests.devex.clients import produce, read_values

pytestmark = pytest.mark.e2e


def produce_and_read(bootstrap: str, topic: str, value: bytes) -> list[bytes]:
    produce(bootstrap, topic, value)
    return read_values(bootstrap, topic, 1, group=topic)


def test_in_memory_broker_on_a_free_port_with_topics() -> None:
    with EmbeddedBroker() as broker:
        host, _, port = broker.bootstrap_servers.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0 and broker.port == int(port)
        broker.create_topic("embedded-orders", partitions=4, configs={"cleanup.policy": "compact"})
        metadata = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10)
        assert len(metadata.topics["embedded-orders"].partitions) == 4
        with pytest.raises(TopicsError, match="TOPIC_ALREADY_EXISTS"):
            broker.create_topic("embedded-orders")
        assert produce_and_read(broker.bootstrap_servers, "embedded-plain", b"hello") == [b"hello"]
    with pytest.raises(RuntimeError, match="not started"):
        _ = broker.bootstrap_servers


def test_a_data_dir_keeps_records_across_a_restart(tmp_path: Path) -> None:
    with EmbeddedBroker(data_dir=tmp_path / "data") as broker:
        assert produce_and_read(broker.bootstrap_servers, "kept", b"before") == [b"before"]
    assert (tmp_path / "data" / "metadata.db").is_file()
    with EmbeddedBroker(data_dir=tmp_path / "data") as broker:
        assert read_values(broker.bootstrap_servers, "kept", 1, group="after-restart") == [b"before"]


def test_a_temporary_folder_is_the_serve_default_shape_and_goes_at_stop() -> None:
    with EmbeddedBroker(data_dir="temporary") as broker:
        folder = broker.data_dir
        assert folder is not None and (folder / "metadata.db").is_file()
        assert broker.config.commit_strategy_in_use == "metadata-thread"  # as `streamhouse serve` by default
        assert produce_and_read(broker.bootstrap_servers, "on-disk", b"kept") == [b"kept"]
    assert not folder.exists()
    assert EmbeddedBroker().data_dir is None


def test_a_start_that_fails_raises_in_the_caller() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = EmbeddedBroker(port=taken.getsockname()[1])
        with pytest.raises(OSError, match="address already in use"):
            broker.start()
    with pytest.raises(TypeError, match="unknown options no_such_option"):
        EmbeddedBroker(no_such_option=1)
    with pytest.raises(ValueError, match="port 99999: not a port"):
        EmbeddedBroker(port=99999)
    with pytest.raises(ValueError, match="--storage ftp://x/y: unsupported URL scheme"):
        EmbeddedBroker(data_dir="temporary", storage="ftp://x/y")


def test_connection_open_and_close_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="streamhouse.broker.server")
    with EmbeddedBroker() as broker, BrokerConnection(broker.bootstrap_servers) as connection:
        connection.version_for(METADATA)
    records = [r for r in caplog.records if r.name == "streamhouse.broker.server" and "connection from" in r.message]
    assert any(" closed" in r.message for r in records)  # the open and the close, whatever closed it
    assert any(" closed" not in r.message for r in records)
    assert {r.levelno for r in records} == {logging.DEBUG}
