"""An object store in a dict: for tests and throwaway brokers, nothing survives the process."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from streamhouse.storage.objects.base import ObjectData, ObjectNotFoundError
from streamhouse.storage.objects.common import joined, validate_key, validate_keys, validate_range


class MemoryObjectStore:
    """Objects as immutable bytes in a dict; puts copy the caller's buffer."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}

    async def put(self, key: str, data: ObjectData) -> None:
        """Store a copy of `data` under `key`."""
        self._objects[validate_key(key)] = bytes(joined(data))

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """The bytes [start, end) of an object, cut short at its end."""
        validate_key(key)
        validate_range(start, end)
        try:
            data = self._objects[key]
        except KeyError:
            raise ObjectNotFoundError(key) from None
        return data[start:end]

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete objects; keys that name no object are ignored."""
        for key in validate_keys(keys):
            self._objects.pop(key, None)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys starting with `prefix`, sorted."""
        return sorted(key for key in self._objects if key.startswith(prefix))

    async def check(self) -> None:
        """Always ready."""

    async def close(self) -> None:
        """Nothing to release; the objects stay readable."""
