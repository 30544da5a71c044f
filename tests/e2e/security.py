"""A broker with a SASL_SSL listener, its users made offline with `streamhouse users add`, for the
security tests of the stock clients (tests/e2e/test_security_*.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.brokerproc import BrokerProcess
from tests.securebroker import add_user, listener_args
from tests.sessionserver import free_port
from tests.tlsfiles import TlsFiles

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"  # SCRAM-SHA-512, a super user
ALICE, ALICE_PASSWORD = "alice", "alice-secret"  # SCRAM-SHA-256
TIMEOUT = 60.0


def add_admin_and_alice(data_dir: Path) -> None:
    add_user(data_dir, ADMIN, ADMIN_PASSWORD, "SCRAM-SHA-512")
    add_user(data_dir, ALICE, ALICE_PASSWORD, "SCRAM-SHA-256")


def sasl_ssl_broker(data_dir: Path, tls: TlsFiles, extra_args: Sequence[str] = ()) -> BrokerProcess:
    """A started broker whose one listener is SASL_SSL on a free port, ACLs on, admin a super user."""
    acls = ["--authorizer", "acl", "--super-users", f"User:{ADMIN}"]
    return BrokerProcess(data_dir, [*listener_args("SASL_SSL", free_port(), tls), *acls, *extra_args]).start()


def confluent_config(
    bootstrap: str, tls: TlsFiles, mechanism: str, user: str, password: str, **more: Any
) -> dict[str, Any]:
    """confluent-kafka settings for a SASL_SSL client trusting the test CA."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(tls.ca_pem),
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        **more,
    }


def wait_for(condition: Callable[[], bool], poll: Callable[[], object], what: str) -> None:
    """Calls `poll` until `condition` holds; fails after TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        poll()


def confluent_produce_one(config: dict[str, Any], topic: str, value: bytes) -> Any:
    """Produces one record; returns its delivery error (a KafkaError), None when it was written."""
    from confluent_kafka import Producer

    reports: list[Any] = []
    producer = Producer(config)
    producer.produce(topic, value=value, on_delivery=lambda error, _: reports.append(error))
    wait_for(lambda: bool(reports), lambda: producer.poll(0.5), f"the delivery report of {value!r}")
    return reports[0]


def confluent_consume(config: dict[str, Any], topic: str, group: str, count: int) -> list[bytes]:
    """The values of the first `count` records of `topic`, read from the start in consumer group `group`."""
    from confluent_kafka import Consumer

    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    values: list[bytes] = []
    try:
        consumer.subscribe([topic])

        def poll() -> None:
            message = consumer.poll(0.5)
            if message is not None:
                assert message.error() is None, message.error()
                values.append(message.value())

        wait_for(lambda: len(values) >= count, poll, f"{count} records of {topic}")
    finally:
        consumer.close()
    return values


def confluent_connect_errors(config: dict[str, Any], expected: int) -> list[int]:
    """The codes of the errors a producer reports while connecting with `config`, until `expected` is one
    of them (or TIMEOUT seconds pass)."""
    from confluent_kafka import Producer

    codes: list[int] = []
    producer = Producer({**config, "error_cb": lambda error: codes.append(error.code())})
    deadline = time.monotonic() + TIMEOUT
    while expected not in codes and time.monotonic() < deadline:
        producer.poll(0.5)
    return codes
