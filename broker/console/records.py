"""Records for the browser: decoded from stored batches in a worker thread, bounded in count and bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from protocol.errors import ProtocolError
from protocol.records import iter_batches, iter_records

FORMATS = ("utf8", "json", "hex")
MAX_SHOWN_BYTES = 4096  # of one key, value or header value on the page
MAX_DECODED_BYTES = 8 * 1024 * 1024  # of records decompressed for one page


@dataclass(frozen=True)
class RecordRow:
    offset: int
    timestamp: int
    key: str | None
    value: str | None
    headers: tuple[tuple[str, str | None], ...]


def show(data: bytes | None, fmt: str) -> str | None:
    """`data` as UTF-8 text, pretty-printed JSON (else text) or hex; cut at MAX_SHOWN_BYTES."""
    if data is None:
        return None
    cut = data[:MAX_SHOWN_BYTES]
    more = "…" if len(data) > MAX_SHOWN_BYTES else ""
    if fmt == "hex":
        return cut.hex(" ") + more
    text = cut.decode("utf-8", "replace")
    if fmt == "json" and not more:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text + more


def decode(
    batches: Sequence[bytes], first: int, stop: int, fmt: str, key_filter: str | None, limit: int
) -> list[RecordRow]:
    """Up to `limit` records with first <= offset < stop (and the key containing `key_filter`), oldest first.

    CPU-bound (decompression, decoding): run it in a thread. Control batches are left out.
    """
    rows: list[RecordRow] = []
    needle = key_filter.encode() if key_filter else None
    budget = MAX_DECODED_BYTES
    for data in batches:
        try:
            for header, batch in iter_batches(data, allow_partial_tail=True):
                if header.is_control or header.base_offset + header.last_offset_delta < first:
                    continue
                budget -= header.size
                for record in iter_records(header, batch):
                    if not first <= record.offset < stop:
                        continue
                    if needle is not None and (record.key is None or needle not in record.key):
                        continue
                    rows.append(
                        RecordRow(
                            record.offset,
                            record.timestamp,
                            show(record.key, "utf8"),
                            show(record.value, fmt),
                            tuple((name, show(value, fmt)) for name, value in record.headers),
                        )
                    )
                    if len(rows) >= limit:
                        return rows
                if budget <= 0:
                    return rows
        except ProtocolError:
            break  # a damaged batch ends the page; what came before is shown
    return rows
