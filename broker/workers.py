"""CPU-heavy work of requests, off the event loop and out of its process.

A thread would keep the loop's answers waiting on the GIL: every time the loop needs it back
from a thread running Python, it waits up to the switch interval (5 ms), several times per request.
A worker process runs beside the loop instead. Its arguments and results are pickled, so a call
should take bytes and a pure function defined at module level (the worker imports its module).

The pool starts on first use, in a thread, as starting it waits for the new processes (a
forkserver: never a fork of the running broker with its threads and sockets), with CPU_WORKERS
processes; a worker that dies breaks the pool, which is made again
for the next call while the failed one runs in a thread instead.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

CPU_WORKERS = 1  # each is a process of its own: a request's heavy work at a time, beside the loop


def _started_pool() -> ProcessPoolExecutor:
    """A pool whose workers are up: starting the forkserver and its first worker waits on them (blocking)."""
    pool = ProcessPoolExecutor(CPU_WORKERS, mp_context=multiprocessing.get_context("forkserver"))
    pool.submit(int).result()
    return pool


class CpuWorkers:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._starting = asyncio.Lock()

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in a worker process."""
        async with self._starting:
            if self._pool is None:
                self._pool = await asyncio.to_thread(_started_pool)
            pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool as exc:
            log.warning("a CPU worker process died (%s): starting another pool; this call runs in a thread", exc)
            pool.shutdown(wait=False, cancel_futures=True)
            if self._pool is pool:
                self._pool = None
            return await asyncio.to_thread(function, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
