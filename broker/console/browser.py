"""The record browser: which records a topic page asks for, read from the partition log and decoded in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from streamhouse.broker.console.records import FORMATS, MAX_SHOWN_BYTES, PAGE_SHOWN_BYTES, RecordRow, decode
from streamhouse.metadata.base import TopicInfo
from streamhouse.protocol.records import iter_batches

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker

ORIGINS = ("start", "end", "offset", "timestamp")
ORDERS = ("oldest", "newest")
MAX_LIMIT = 200  # records on one page
READ_BYTES = 1024 * 1024  # asked of the log per read while browsing
MAX_READ_BYTES = 8 * 1024 * 1024  # read from the log for one page
FILTER_SCAN = 20  # newest first with a key filter: look back this many times the limit


@dataclass(frozen=True)
class Browse:
    """What the record browser was asked for (every field from the query string, checked)."""

    partition: int
    origin: str  # one of ORIGINS
    offset: int
    timestamp: str  # ISO 8601 or milliseconds, for origin "timestamp"
    order: str  # one of ORDERS
    fmt: str  # one of records.FORMATS
    key: str
    limit: int


def browse_params(params: dict[str, str], partitions: int) -> Browse:
    """What the query string asks the browser for, each field checked (else its default)."""

    def number(name: str, default: int) -> int:
        try:
            return int(params.get(name, default))
        except ValueError:
            return default

    def choice(name: str, choices: tuple[str, ...], default: str) -> str:
        value = params.get(name, default)
        return value if value in choices else default

    partition = number("partition", 0)
    return Browse(
        partition if 0 <= partition < partitions else 0,
        choice("from", ORIGINS, "start"),
        max(number("offset", 0), 0),
        params.get("timestamp", ""),
        choice("order", ORDERS, "oldest"),
        choice("format", FORMATS, "utf8"),
        params.get("key", ""),
        min(max(number("limit", 50), 1), MAX_LIMIT),
    )


def millis(text: str) -> int | None:
    """Milliseconds since the epoch from a number of them or an ISO 8601 time (UTC unless it says)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    with contextlib.suppress(ValueError):
        moment = datetime.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return int(moment.timestamp() * 1000)
    return None


async def records(broker: Broker, info: TopicInfo, browse: Browse) -> list[RecordRow]:
    """The records the browser asked for, decoded in a thread."""
    state = await broker.log.state(info.topic_id, browse.partition)
    start, end = state.log_start_offset, state.high_watermark
    if browse.origin == "start":
        anchor = start
    elif browse.origin == "end":
        anchor = end
    elif browse.origin == "offset":
        anchor = min(max(browse.offset, start), end)
    else:
        wanted = millis(browse.timestamp)
        found = -1
        if wanted is not None:
            found, _ = await broker.log_index.offset_at_timestamp(info.topic_id, browse.partition, wanted, start)
        anchor = end if found < 0 else found  # no record that late: the end
    if browse.order == "oldest":
        first, stop = anchor, end
    else:
        stop = anchor + 1 if browse.origin in ("offset", "timestamp") and anchor < end else anchor
        first = max(start, stop - browse.limit * (FILTER_SCAN if browse.key else 1))
    batches = await _read(broker, info, browse.partition, first, stop)
    limit = MAX_LIMIT * FILTER_SCAN if browse.order == "newest" else browse.limit
    shown = min(MAX_SHOWN_BYTES, PAGE_SHOWN_BYTES // browse.limit)
    transactions = await broker.transaction_states.get(info.topic_id, browse.partition)
    marked = partial(decode, aborted=transactions.aborted, last_stable=transactions.last_stable_offset(end))
    rows = await asyncio.to_thread(marked, batches, first, stop, browse.fmt, browse.key or None, limit, shown)
    return rows[-browse.limit :][::-1] if browse.order == "newest" else rows


async def _read(broker: Broker, info: TopicInfo, partition: int, first: int, stop: int) -> list[bytes]:
    """Stored batches holding offsets first..stop-1, up to MAX_READ_BYTES."""
    batches: list[bytes] = []
    offset, read = first, 0
    while offset < stop and read < MAX_READ_BYTES:
        got = await broker.log.read(info.topic_id, partition, offset, READ_BYTES)
        if not got:
            break
        batches += got
        read += sum(len(batch) for batch in got)
        last = offset
        for data in got:
            for header, _ in iter_batches(data, verify_crc=False, allow_partial_tail=True):
                last = max(last, header.base_offset + header.last_offset_delta)
        if last < offset:
            break
        offset = last + 1
    return batches
