"""The pytest plugin (entry point `pytest11`): a StreamHouse broker for a test session, a topic per test.

    def test_round_trip(streamhouse_broker, streamhouse_topic):
        producer = Producer({"bootstrap.servers": streamhouse_broker.bootstrap_servers})

`streamhouse_broker` (session scope) is an EmbeddedBroker in memory, started on first use; a project
that wants other settings overrides the session fixture `streamhouse_broker_options` (a dict of
EmbeddedBroker keywords, `{"auto_create_topics": False}` for instance) in its conftest.py.
`streamhouse_topic` is the name of a new topic for each test: one partition and no configs unless the
test says otherwise, with a marker, `@pytest.mark.streamhouse_topic(partitions=3, configs={...})`, or
by indirect parametrization, `@pytest.mark.parametrize("streamhouse_topic", [{"partitions": 3}], indirect=True)`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from streamhouse.embedded import EmbeddedBroker

MARKER = "streamhouse_topic"
_numbers = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(partitions=1, configs=None): the partitions and configs of the test's streamhouse_topic"
    )


@pytest.fixture(scope="session")
def streamhouse_broker_options() -> dict[str, Any]:
    """EmbeddedBroker keywords for the session's broker: none (in memory, the defaults)."""
    return {}


@pytest.fixture(scope="session")
def streamhouse_broker(streamhouse_broker_options: dict[str, Any]) -> Iterator[EmbeddedBroker]:
    """A StreamHouse broker in this process, in memory, for the whole session (.bootstrap_servers)."""
    from streamhouse.embedded import EmbeddedBroker

    with EmbeddedBroker(**streamhouse_broker_options) as broker:
        yield broker


@pytest.fixture
def streamhouse_topic(request: pytest.FixtureRequest, streamhouse_broker: EmbeddedBroker) -> str:
    """The name of a topic created for this test alone."""
    settings: dict[str, Any] = {}
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        settings.update(marker.kwargs)
    if isinstance(getattr(request, "param", None), dict):
        settings.update(request.param)
    unknown = set(settings) - {"partitions", "configs"}
    if unknown:
        raise pytest.UsageError(f"{MARKER}: unknown settings {', '.join(sorted(unknown))}")
    # Topic names: letters, digits, '.', '_' and '-', at most 249 characters.
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:200].strip("-") or "test"
    name = f"{stem}-{next(_numbers)}"
    streamhouse_broker.create_topic(name, partitions=settings.get("partitions", 1), configs=settings.get("configs"))
    return name
