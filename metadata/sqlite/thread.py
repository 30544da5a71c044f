"""One sqlite3 connection served by a thread of its own, for the event loop.

`run(fn)` calls `fn(connection)` on that thread and returns its result (or raises its
exception) on the caller's event loop. Calls run one at a time, in the order they were made,
so a function may hold a whole transaction. A cancelled caller stops waiting, but its call
still runs to its end: a transaction it began commits or rolls back on that thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class SqliteThread:
    """A connection and its thread; make one with `connect`, end both with `close`."""

    def __init__(self, name: str) -> None:
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()  # None: stop
        self._connection: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @classmethod
    async def connect(cls, path: str) -> SqliteThread:
        """Open `path` (":memory:" too) in autocommit mode: transactions are the callers' BEGIN ... COMMIT."""
        served = cls(f"sqlite:{path}")
        try:
            # Made on its thread, so sqlite3's same-thread check holds.
            served._connection = await served._submit(lambda: sqlite3.connect(path, isolation_level=None))
        except BaseException:
            served._calls.put(None)
            raise
        return served

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(connection)` on the connection's thread, after every call made before it."""
        connection = self._connection
        if connection is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return await self._submit(lambda: fn(connection))

    async def close(self) -> None:
        """Close the connection once the calls made before have run, then end the thread."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        closed = self._submit(connection.close)
        self._calls.put(None)  # queued now, so the thread ends even if this caller is cancelled
        await closed

    def _submit(self, call: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((call, future, loop))
        return future

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future, loop = item
            result: object = None
            error: BaseException | None = None
            try:
                result = call()
            except Exception as exc:  # handed to the caller, which raises it
                error = exc
            with suppress(RuntimeError):  # the caller's loop is closed: nobody waits for the result
                loop.call_soon_threadsafe(_settle, future, result, error)
