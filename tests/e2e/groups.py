"""Consumer group members as subprocesses (tests/e2e/group_worker.py), and what group tests wait for."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from streamhouse.broker.client import GroupView, describe_group
from streamhouse.metadata import open_metadata_store
from streamhouse.metadata.base import MetadataStore
from tests.brokerproc import BrokerProcess
from tests.e2e.clients import confluent_produce
from tests.e2e.dataset import Sent

T = TypeVar("T")
REPO = Path(__file__).parents[2]
WAIT_SECONDS = 45.0


class Member:
    """A group member in its own process; its printed events are collected as they come."""

    def __init__(
        self,
        client: str,
        broker: BrokerProcess,
        topic: str,
        group: str,
        name: str,
        *,
        instance_id: str | None = None,
        assignors: str = "range,roundrobin",
        delay_ms: int = 0,
        max_records: int = 500,
    ) -> None:
        self.name = name
        args = [sys.executable, "-m", "tests.e2e.group_worker", client, broker.bootstrap, topic, group, name]
        args += ["--assignors", assignors, "--delay-ms", str(delay_ms), "--max-records", str(max_records)]
        if instance_id is not None:
            args += ["--instance-id", instance_id]
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
        )
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read_events, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=self.errors.extend, args=(self.process.stderr,), daemon=True).start()

    def _read_events(self, stream: Any) -> None:
        for line in stream:
            with self._lock:
                self.events.append(json.loads(line))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    @property
    def owned(self) -> set[int]:
        """The partitions it owns now, by its own account."""
        owned: set[int] = set()
        for event in self.snapshot():
            if event["event"] == "assigned":
                owned = set(event["partitions"])
            elif event["event"] == "revoked":
                owned -= set(event["partitions"])
        return owned

    def rebalances(self) -> int:
        return sum(1 for event in self.snapshot() if event["event"] in ("assigned", "revoked"))

    def consumed(self) -> list[tuple[int, int, str]]:
        """(partition, offset, value) of every record it processed, in order."""
        return [
            (partition, offset, value)
            for event in self.snapshot()
            if event["event"] == "records"
            for partition, offset, value in event["records"]
        ]

    def close(self, timeout: float = 30.0) -> None:
        """Close the consumer (a dynamic member leaves the group) and wait for the process."""
        assert self.process.stdin is not None
        self.process.stdin.write("close\n")
        self.process.stdin.flush()
        code = self.process.wait(timeout)
        assert code == 0, f"{self.name} exited with {code}:\n{self.log()}"

    def kill(self) -> None:
        """SIGKILL: the member vanishes without leaving the group."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop_if_running(self) -> None:
        if self.process.poll() is None:
            self.kill()

    def log(self) -> str:
        return "".join(self.errors[-40:])


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def settled(broker: BrokerProcess, group: str, members: list[Member], partitions: int) -> GroupView | None:
    """The group's view once it is Stable with exactly these members, who split the partitions with no
    overlap and no gap and each consume what the broker says they were assigned; else None.

    Each member's own account is read before the description, so the description is no older than the
    assignments it is matched against: a restarted static member's predecessor can't pass for it."""
    owned = {member.name: member.owned for member in members}
    view = describe_group(broker.bootstrap, group)
    if view.state != "Stable" or sorted(m.client_id for m in view.members) != sorted(m.name for m in members):
        return None
    split = sorted(partition for member in view.members for _, partition in member.partitions)
    if split != list(range(partitions)):
        return None
    assigned = {m.client_id: {partition for _, partition in m.partitions} for m in view.members}
    if any(owned[name] != assigned[name] for name in owned):
        return None
    return view


def wait_settled(broker: BrokerProcess, group: str, members: list[Member], partitions: int) -> GroupView:
    names = ", ".join(member.name for member in members)
    try:
        return wait_for(lambda: settled(broker, group, members, partitions), f"{group} to settle on {names}")
    except AssertionError:
        for member in members:
            print(f"--- {member.name}: owned {member.owned}\n{member.log()}")
        raise


def produce(broker: BrokerProcess, topic: str, values: list[str], partitions: int) -> None:
    """The values, spread over the partitions round-robin, acknowledged by all replicas."""
    items = [Sent(index % partitions, None, value.encode()) for index, value in enumerate(values)]
    confluent_produce(broker.bootstrap, topic, items, "none", True)


def consumed_values(members: list[Member]) -> list[str]:
    return [value for member in members for _, _, value in member.consumed()]


def wait_consumed(members: list[Member], values: list[str]) -> None:
    """Until every value was processed at least once by some member."""
    missing: set[str] = set()

    def all_seen() -> bool:
        missing.clear()
        missing.update(set(values) - set(consumed_values(members)))
        return not missing

    try:
        wait_for(all_seen, f"{len(values)} records to be consumed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {len(missing)} never came, e.g. {sorted(missing)[:5]}") from None


def stored_generation(broker: BrokerProcess, group: str) -> int:
    """The generation the broker recorded for the group in its metadata store."""
    records = {record.group_id: record for record in read_store(broker, lambda store: store.groups.list_groups())}
    assert group in records, f"no record of group {group}"
    return records[group].generation_id


def read_store(broker: BrokerProcess, read: Callable[[MetadataStore], Awaitable[T]]) -> T:
    """What `read` finds in the broker's metadata store, through a store of the test's own."""

    async def opened() -> T:
        store = open_metadata_store(broker.metadata_url)
        await store.start()
        try:
            return await read(store)
        finally:
            await store.close()

    return asyncio.run(opened())
