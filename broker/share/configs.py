"""A share group's configs (Kafka's GroupConfig share.* names), set by IncrementalAlterConfigs on the GROUP resource.

Each config set on a group overrides the broker's default (its --group-share-* flag); the rest follow
the broker. They are kept in the metadata store (share_states role) and cached here for a second, so
a change made through another broker applies within that second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from streamhouse.metadata.base import MetadataStore

CACHE_SECONDS = 1.0
LOCK_DURATION = "share.record.lock.duration.ms"
DELIVERY_LIMIT = "share.delivery.count.limit"
AUTO_OFFSET_RESET = "share.auto.offset.reset"
ISOLATION_LEVEL = "share.isolation.level"
STRING_CONFIGS = (AUTO_OFFSET_RESET, ISOLATION_LEVEL)


@dataclass(frozen=True)
class ShareSettings:
    """A share group's settings (its group configs over the broker's defaults)."""

    lock_duration_ms: int
    delivery_limit: int
    auto_offset_reset: str  # "latest" or "earliest"
    read_committed: bool

    def as_configs(self) -> dict[str, str]:
        return {
            LOCK_DURATION: str(self.lock_duration_ms),
            DELIVERY_LIMIT: str(self.delivery_limit),
            AUTO_OFFSET_RESET: self.auto_offset_reset,
            ISOLATION_LEVEL: "read_committed" if self.read_committed else "read_uncommitted",
        }


def _int_between(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = int(value)
        except ValueError:
            return f"{value!r} is not an integer"
        return None if low <= number <= high else f"{number} is not between {low} and {high}"

    return check


def _one_of(*allowed: str) -> Callable[[str], str | None]:
    return lambda value: None if value in allowed else f"{value!r} is not one of {', '.join(allowed)}"


# Kafka's bounds (GroupConfig and ShareGroupConfig).
CHECKS: dict[str, Callable[[str], str | None]] = {
    LOCK_DURATION: _int_between(1000, 3_600_000),
    DELIVERY_LIMIT: _int_between(2, 10),
    AUTO_OFFSET_RESET: _one_of("latest", "earliest"),
    ISOLATION_LEVEL: _one_of("read_uncommitted", "read_committed"),
}


def config_error(name: str, value: str | None) -> str | None:
    """Why the config cannot be set on a share group (None: it can; a None value only checks the name)."""
    check = CHECKS.get(name)
    if check is None:
        return f"unknown group config {name!r}: share groups take {', '.join(sorted(CHECKS))}"
    return None if value is None else (f"invalid value for {name}: {problem}" if (problem := check(value)) else None)


def apply(defaults: ShareSettings, configs: Mapping[str, str]) -> ShareSettings:
    settings = defaults
    if LOCK_DURATION in configs:
        settings = replace(settings, lock_duration_ms=int(configs[LOCK_DURATION]))
    if DELIVERY_LIMIT in configs:
        settings = replace(settings, delivery_limit=int(configs[DELIVERY_LIMIT]))
    if AUTO_OFFSET_RESET in configs:
        settings = replace(settings, auto_offset_reset=configs[AUTO_OFFSET_RESET])
    if ISOLATION_LEVEL in configs:
        settings = replace(settings, read_committed=configs[ISOLATION_LEVEL] == "read_committed")
    return settings


class ShareGroupConfigs:
    def __init__(self, store: MetadataStore, defaults: ShareSettings) -> None:
        self.store = store
        self.defaults = defaults
        self._cached: dict[str, tuple[float, dict[str, str]]] = {}

    async def explicit(self, group_id: str) -> dict[str, str]:
        """The configs set on the group."""
        cached = self._cached.get(group_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        configs = await self.store.share_states.share_group_configs(group_id)
        self._cached[group_id] = (time.monotonic(), configs)
        return configs

    async def settings(self, group_id: str) -> ShareSettings:
        return apply(self.defaults, await self.explicit(group_id))

    async def replace(self, group_id: str, configs: Mapping[str, str]) -> None:
        await self.store.share_states.save_share_group_configs(group_id, configs)
        self._cached[group_id] = (time.monotonic(), dict(configs))
