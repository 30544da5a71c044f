"""How a Produce request waits for its appends (broker.handlers.produce._answered)."""

from __future__ import annotations

import asyncio

from streamhouse.broker.handlers.produce import _answered
from streamhouse.metadata.base import AppendResult
from streamhouse.storage.log import StorageError


async def test_a_request_waits_for_every_append_even_when_its_last_is_answered_first() -> None:
    # As when the broker begins closing while a request waits for a topic: its later appends are refused
    # at once, its earlier ones are still in the flush that closing writes.
    loop = asyncio.get_running_loop()
    earlier, last = loop.create_future(), loop.create_future()
    last.set_exception(StorageError("broker is shutting down"))
    loop.call_later(0.05, earlier.set_result, AppendResult(0, 0))
    await _answered([earlier, last], timeout=5)
    assert earlier.done()


async def test_a_request_stops_waiting_at_its_timeout() -> None:
    loop = asyncio.get_running_loop()
    never: asyncio.Future[AppendResult] = loop.create_future()
    answered_later: asyncio.Future[AppendResult] = loop.create_future()
    loop.call_later(0.05, answered_later.set_result, AppendResult(0, 0))
    started = loop.time()
    await _answered([never, answered_later], timeout=0.2)
    # Not a speed check: only that the wait ends (the handler then answers REQUEST_TIMED_OUT, 7), and
    # not before its timeout. asyncio may run a timer up to its clock's resolution early, hence 0.19.
    assert not never.done() and answered_later.done() and loop.time() - started >= 0.19
