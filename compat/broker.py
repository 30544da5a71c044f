"""The broker the compat runs talk to: a `streamhouse serve` subprocess on a free port, or one given."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.brokerproc import BrokerProcess

# The clients' own suites expect the set-up of the Kafka brokers they spawn: 4 partitions per
# auto-created topic, no initial rebalance delay and sessions shorter than Kafka's default 6 s minimum
# (their group tests join with 3 s sessions and wait for a stable group with short deadlines).
COMPAT_BROKER_ARGS = (
    "--num-partitions", "4", "--auto-create-topics", "true", "--fsync", "never",
    "--group-initial-rebalance-delay-ms", "0", "--group-min-session-timeout-ms", "1000",
)  # fmt: skip


@contextlib.contextmanager
def running_broker(bootstrap: str | None, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Yields a bootstrap address: `bootstrap` itself when given, else that of a broker started here."""
    if bootstrap:
        yield bootstrap
        return
    with tempfile.TemporaryDirectory(prefix="streamhouse-compat-") as data_dir:
        process = BrokerProcess(Path(data_dir), [*COMPAT_BROKER_ARGS, *extra_args]).start()
        try:
            yield process.bootstrap
        finally:
            process.stop()
