"""The broker the compat runs talk to: a `streamhouse serve` subprocess on a free port, or one given."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.brokerproc import BrokerProcess

# The clients' own suites expect the set-up of the Kafka brokers they spawn: 4 partitions per
# auto-created topic and sessions shorter than Kafka's default 6 s minimum (their group tests join with
# 3 s sessions and wait for a stable group with short deadlines).
COMPAT_BROKER_ARGS = (
    "--num-partitions", "4", "--auto-create-topics", "true", "--fsync", "never",
    "--group-min-session-timeout-ms", "1000",
)  # fmt: skip


@contextlib.contextmanager
def running_broker(
    bootstrap: str | None,
    extra_args: tuple[str, ...] = (),
    initial_rebalance_delay_ms: int = 0,
    before_start: Callable[[Path], None] | None = None,
) -> Iterator[str]:
    """Yields a bootstrap address: `bootstrap` itself when given, else that of a broker started here.

    The matrix and kafka-python's suite form a group's first generation at once (no initial rebalance
    delay); librdkafka's suite asks for Kafka's default delay, as its test clusters run with it.
    `before_start` gets the broker's data folder before it starts (to add its users offline).
    """
    if bootstrap:
        yield bootstrap
        return
    delay = ("--group-initial-rebalance-delay-ms", str(initial_rebalance_delay_ms))
    with tempfile.TemporaryDirectory(prefix="streamhouse-compat-") as data_dir:
        if before_start is not None:
            before_start(Path(data_dir))
        process = BrokerProcess(Path(data_dir), [*COMPAT_BROKER_ARGS, *delay, *extra_args]).start()
        try:
            yield process.bootstrap
        finally:
            process.stop()
