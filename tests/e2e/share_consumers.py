"""confluent-kafka ShareConsumers on threads of the test (one consumer per thread), collecting what they receive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import AcknowledgeType, ShareConsumer

from streamhouse.protocol.apis.incremental_alter_configs import INCREMENTAL_ALTER_CONFIGS
from tests.wireclient import WireClient

GROUP_RESOURCE = 32  # Kafka's ConfigResource.Type GROUP

# What an explicit-mode member does with a record: an AcknowledgeType.
Decide = Callable[[Any], AcknowledgeType]


class ShareMember:
    """One ShareConsumer of `group` subscribed to `topic`, polling on its own thread until stopped."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topic: str,
        *,
        decide: Decide | None = None,
        config: dict[str, str] | None = None,
    ) -> None:
        settings = {"bootstrap.servers": bootstrap, "group.id": group, **(config or {})}
        if decide is not None:
            settings["share.acknowledgement.mode"] = "explicit"
        self.decide = decide
        self.consumer = ShareConsumer(settings)
        self.consumer.subscribe([topic])
        self.received: list[tuple[int, bytes | None, int]] = []  # (offset, value, delivery count)
        self.errors: list[str] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            messages = self.consumer.poll(0.2)
            self.polls += 1
            for message in messages:
                if message.error() is not None:
                    self.errors.append(str(message.error()))
                    continue
                offset, count = message.offset(), message.delivery_count()
                assert offset is not None and count is not None  # a record, not an event
                self.received.append((offset, message.value(), count))
                if self.decide is not None:
                    self.consumer.acknowledge(message, self.decide(message))
            if self.decide is not None:
                self.consumer.commit_sync()
        self.consumer.close()

    def offsets(self) -> list[int]:
        return [offset for offset, _, _ in self.received]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def set_group_config(bootstrap: str, group: str, name: str, value: str) -> None:
    """IncrementalAlterConfigs SET of one config on the GROUP resource (confluent-kafka has no GROUP config type)."""
    resource = INCREMENTAL_ALTER_CONFIGS.Request.AlterConfigsResource
    body = INCREMENTAL_ALTER_CONFIGS.Request(
        validate_only=False,
        resources=[
            resource(
                resource_type=GROUP_RESOURCE,
                resource_name=group,
                configs=[resource.AlterableConfig(name=name, config_operation=0, value=value)],
            )
        ],
    )
    with WireClient(bootstrap) as client:
        answer = client.request(INCREMENTAL_ALTER_CONFIGS, 1, body)
    assert answer.responses[0].error_code == 0, answer.responses[0].error_message


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 45.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
