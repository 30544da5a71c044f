"""Records for the browser: decoded from stored batches in a worker thread, bounded in count and bytes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from streamhouse.metadata.base import AbortedTransaction
from streamhouse.metadata.gil import sharing_the_gil
from streamhouse.protocol.errors import ProtocolError
from streamhouse.protocol.records import BatchHeader, iter_batches, iter_records

FORMATS = ("utf8", "json", "hex")
MAX_SHOWN_BYTES = 4096  # of one key, value or header value on the page
PAGE_SHOWN_BYTES = 40_000  # of keys, values and headers on one page, shared among its records: pages stay < 100 KB
MAX_HEADERS_SHOWN = 8  # of one record
MAX_DECODED_BYTES = 8 * 1024 * 1024  # of records decompressed for one page
MAX_JSON_BYTES = 64 * 1024  # values over this are shown as text, not parsed as JSON


@dataclass(frozen=True)
class RecordRow:
    """A record as the page shows it: key, value and headers already HTML-escaped and clipped (None: null)."""

    offset: int
    timestamp: int
    transaction: str  # "": not in a transaction that is open or aborted; else ABORTED or UNCOMMITTED
    key_html: str | None
    value_html: str | None
    headers_html: tuple[tuple[str, str | None], ...]


def show(data: bytes | None, fmt: str, most: int = MAX_SHOWN_BYTES) -> str | None:
    """`data` as HTML-escaped UTF-8 text, pretty-printed JSON (else text) or hex, in at most `most` bytes (+ "…")."""
    if data is None:
        return None
    if fmt == "hex":
        return _clipped(data[: most // 3 + 1].hex(" "), most)
    text = data[: most + 1].decode("utf-8", "replace")
    if fmt == "json" and len(data) <= MAX_JSON_BYTES:
        with contextlib.suppress(ValueError):  # not JSON: shown as text
            text = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    return _clipped(text, most)


def _clipped(text: str, most: int) -> str:
    """`text` escaped for HTML, cut so that the escaped text takes at most `most` bytes."""
    escaped = escape(text, quote=False)
    size = len(escaped.encode())
    if size <= most:
        return escaped
    while size > most:  # each round cuts the text in proportion to how far over it is
        text = text[: max(len(text) * most // size - 1, 0)]
        escaped = escape(text, quote=False)
        size = len(escaped.encode())
    return escaped + "…"


ABORTED = "aborted"
UNCOMMITTED = "uncommitted"


def _transaction_state(
    header: BatchHeader, aborted: Sequence[AbortedTransaction], last_stable: int | None
) -> Callable[[int], str]:
    """What a batch's record at an offset is: part of an aborted transaction, of an open one, or neither."""
    if not header.is_transactional:
        return lambda offset: ""
    spans = [(t.first_offset, t.last_offset) for t in aborted if t.producer_id == header.producer_id]

    def state(offset: int) -> str:
        if any(first <= offset <= last for first, last in spans):
            return ABORTED
        return UNCOMMITTED if last_stable is not None and offset >= last_stable else ""

    return state


def decode(
    batches: Sequence[bytes],
    first: int,
    stop: int,
    fmt: str,
    key_filter: str | None,
    limit: int,
    shown: int,
    *,
    aborted: Sequence[AbortedTransaction] = (),
    last_stable: int | None = None,
) -> list[RecordRow]:
    """Up to `limit` records with first <= offset < stop (and the key containing `key_filter`), oldest first;
    each record shown in at most about `shown` bytes of HTML: half for the value, a quarter for the key,
    a quarter for the headers.

    CPU-bound (decompression, decoding): run it in a thread (it lets the GIL go now and then, for the event
    loop). Control batches are left out; records of `aborted` transactions, and of open ones (from
    `last_stable` on), are marked, not hidden: the console shows what the log holds.
    """
    rows: list[RecordRow] = []
    needle = key_filter.encode() if key_filter else None
    budget = MAX_DECODED_BYTES
    each_header = shown // (8 * MAX_HEADERS_SHOWN)  # of a name or a value: a quarter for all
    for data in batches:
        try:
            for header, batch in iter_batches(data, allow_partial_tail=True):
                if header.is_control or header.base_offset + header.last_offset_delta < first:
                    continue
                budget -= header.size
                state = _transaction_state(header, aborted, last_stable)
                for record in sharing_the_gil(iter_records(header, batch)):
                    if not first <= record.offset < stop:
                        continue
                    if needle is not None and (record.key is None or needle not in record.key):
                        continue
                    rows.append(
                        RecordRow(
                            record.offset,
                            record.timestamp,
                            state(record.offset),
                            show(record.key, "utf8", shown // 4),
                            show(record.value, fmt, shown // 2),
                            tuple(
                                (_clipped(name, each_header), show(value, fmt, each_header))
                                for name, value in record.headers[:MAX_HEADERS_SHOWN]
                            ),
                        )
                    )
                    if len(rows) >= limit:
                        return rows
                if budget <= 0:
                    return rows
        except ProtocolError:
            break  # a damaged batch ends the page; what came before is shown
    return rows
