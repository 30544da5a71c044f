"""SqliteThread: a sqlite3 connection served by a thread of its own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from streamhouse.metadata.sqlite.thread import SqliteThread


async def test_calls_run_on_one_other_thread_in_the_order_made() -> None:
    served = await SqliteThread.connect(":memory:")
    try:
        seen: list[tuple[int, int]] = []

        def record(index: int) -> int:
            seen.append((index, threading.get_ident()))
            return index

        results = await asyncio.gather(*(served.run(lambda _, i=i: record(i)) for i in range(20)))
        assert results == list(range(20))
        assert [index for index, _ in seen] == list(range(20))
        threads = {thread for _, thread in seen}
        assert len(threads) == 1 and threading.get_ident() not in threads
    finally:
        await served.close()


async def test_a_call_raises_its_own_exception() -> None:
    served = await SqliteThread.connect(":memory:")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await served.run(lambda connection: connection.execute("SELECT * FROM missing"))
        assert await served.run(lambda connection: connection.execute("SELECT 1").fetchall()) == [(1,)]
    finally:
        await served.close()


async def test_a_cancelled_caller_leaves_its_call_to_finish() -> None:
    served = await SqliteThread.connect(":memory:")
    try:
        started, release = threading.Event(), threading.Event()

        def slow_insert(connection: sqlite3.Connection) -> None:
            started.set()
            release.wait(5)
            connection.execute("CREATE TABLE t (x)")

        task = asyncio.create_task(served.run(slow_insert))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert await served.run(lambda connection: connection.execute("SELECT count(*) FROM t").fetchall()) == [(0,)]
    finally:
        await served.close()


async def test_close_waits_for_the_calls_before_it_and_refuses_later_ones() -> None:
    served = await SqliteThread.connect(":memory:")
    created = asyncio.create_task(served.run(lambda connection: connection.execute("CREATE TABLE t (x)")))
    await asyncio.sleep(0)  # the call is made
    await served.close()
    assert created.done() and created.exception() is None
    with pytest.raises(sqlite3.ProgrammingError):
        await served.run(lambda connection: connection.execute("SELECT 1"))
    await served.close()  # again: nothing to do


async def test_an_unopenable_path_raises_and_leaves_no_thread() -> None:
    before = threading.active_count()
    with pytest.raises(sqlite3.OperationalError):
        await SqliteThread.connect("/nonexistent-folder/for/sure/metadata.db")
    for _ in range(100):
        if threading.active_count() == before:
            break
        await asyncio.sleep(0.01)
    assert threading.active_count() == before
