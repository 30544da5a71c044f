"""Explicit trace points on the produce path, and the one hook object they call.

Code on the produce path reports each point it reaches with `TRACE.event(point, subject)`; by
default that does nothing (one call of an empty function, no allocation). A debugging tool such as
benchmarks/trace.py installs a Tracer that timestamps the points. Every part of the project may
import this module; it imports nothing of the project.

The points, in the order a produce request reaches them, and the subject each one reports:
- "received": a broker.server.Connection, bytes just arrived on it
- "decoded", "handler started", "handler done", "encoded": the protocol.wire.Request
- "written": the task that answered the request, its answer queued for the socket
- "appended": the future of one batch just queued in the write buffer (in the request's task)
- "flush started", "flush answered": a storage.writer.Flush, its object about to be written, or
  its appends' futures resolved
- "put called", "put returned": a flush object's key, around the object store's put
- "put thread", "put thread done": an object's key, around a folder's put on its thread
- "sync", "synced": an object's key, around the fdatasync of the volume it was written to
- "commit called", "commit returned": the FlushCommit list of one metadata commit, around it
- "commit thread", "commit statement", "commit thread done": that list, on SQLite's thread when
  the transaction starts, when its COMMIT starts and when it ended
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

Point = Literal[
    "received",
    "decoded",
    "handler started",
    "handler done",
    "encoded",
    "written",
    "appended",
    "flush started",
    "flush answered",
    "put called",
    "put returned",
    "put thread",
    "put thread done",
    "sync",
    "synced",
    "commit called",
    "commit returned",
    "commit thread",
    "commit statement",
    "commit thread done",
]


class Tracer(Protocol):
    def event(self, point: Point, subject: object) -> None:
        """`subject` reached `point` now; called on the event loop or on a store's thread."""
        ...


def _ignore(point: Point, subject: object) -> None:
    """The event of no tracer."""


class _Hook:
    """Forwards each event to the installed tracer's `event`; ignores them while none is installed."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event: Callable[[Point, object], None] = _ignore


TRACE = _Hook()


def install(tracer: Tracer | None) -> None:
    """Send every later event to `tracer` (None: ignore them again)."""
    TRACE.event = _ignore if tracer is None else tracer.event
