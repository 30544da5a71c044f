"""The object store interface: what the partition log needs from S3, a folder or memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from streamhouse.protocol.primitives import Buffer as Buffer  # re-exported: what a put takes, by reference

# A list: the object is its parts' concatenation, which a store may write without joining them (a
# flush object's batches, a segment's pieces: no copy of the whole object in memory first).
ObjectData = Buffer | list[Buffer]


class ObjectNotFoundError(KeyError):
    """The key names no object."""


class ObjectStoreUnavailableError(Exception):
    """The store could not be reached or failed; the caller may retry later."""


class ObjectStore(Protocol):
    """Immutable objects by key. Keys are '/'-separated relative paths without '..'."""

    async def put(self, key: str, data: ObjectData) -> None:
        """Store `data` under `key`, durably (per the store's policy) before returning; replaces any object."""
        ...

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """The bytes [start, end) of an object (end None: to its end); ObjectNotFoundError if absent."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete objects; keys that name no object are ignored."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Keys starting with `prefix`, sorted."""
        ...

    async def check(self) -> None:
        """Raise ObjectStoreUnavailableError unless the store answers (readiness)."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


class BlockingPut(ObjectStore, Protocol):
    """A store whose put is blocking work that any thread may do: a folder's (a write and an fdatasync).

    storage.commit.PutOnCommitThread runs it on the metadata store's own thread, right before a commit.
    """

    def put_blocking(self, key: str, data: ObjectData) -> None:
        """What put does, on the calling thread; raises what put raises."""
        ...
