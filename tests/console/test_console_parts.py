"""The console's parts without a browser: the lag history's bounds, value formats, record decoding, sparklines."""

from __future__ import annotations

import json

import pytest

from broker.console import lag
from broker.console.lag import LagHistory
from broker.console.records import MAX_SHOWN_BYTES, decode, show
from broker.console.template import esc, sparkline
from protocol.records import Compression, Record, build_batch, build_marker_batch, with_offsets


def test_the_lag_history_keeps_a_bounded_number_of_samples_per_partition() -> None:
    history = LagHistory(samples_kept=3)
    for lag_now in range(5):
        history.record("g", {("t", 0): lag_now, ("t", 1): 10 * lag_now})
    assert history.of("g", "t", 0) == [2, 3, 4]
    assert history.of("g", "t", 1) == [20, 30, 40]
    history.record("g", {("t", 0): 7})  # partition 1 no longer committed: its series goes
    assert (history.of("g", "t", 1), history.size()) == ([], 1)
    history.keep_only(set())
    assert (history.has("g"), history.size()) == (False, 0)


def test_the_lag_history_follows_at_most_max_series(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lag, "MAX_SERIES", 2)
    history = LagHistory()
    history.record("a", {("t", 0): 1, ("t", 1): 1})
    history.record("b", {("t", 0): 5})
    assert (history.of("b", "t", 0), history.size()) == ([], 2)
    history.keep_only({"b"})
    history.record("b", {("t", 0): 5})
    assert history.of("b", "t", 0) == [5]


def test_values_show_as_text_pretty_json_or_hex() -> None:
    assert show(b'{"a":[1,2]}', "json") == json.dumps({"a": [1, 2]}, indent=2)
    assert show(b"not json", "json") == "not json"
    assert show(b"\x00\xff", "hex") == "00 ff"
    assert show(b"caf\xc3\xa9", "utf8") == "café"
    assert show(None, "utf8") is None
    long = show(b"x" * (MAX_SHOWN_BYTES + 1), "utf8")
    assert long is not None and long.endswith("…") and len(long) == MAX_SHOWN_BYTES + 1


def test_decoding_keeps_the_offset_range_the_key_filter_and_the_limit_and_skips_markers() -> None:
    records = [Record(key=f"k{n}".encode(), value=f"v{n}".encode()) for n in range(6)]
    first = with_offsets(build_batch(records[:3], compression=Compression.GZIP), 0, 0)
    marker = with_offsets(build_marker_batch(True, 1, 0), 3, 0)
    second = with_offsets(build_batch(records[3:]), 4, 0)
    rows = decode([first, marker, second], 1, 6, "utf8", None, 10)
    assert [(r.offset, r.key, r.value) for r in rows] == [
        (1, "k1", "v1"),
        (2, "k2", "v2"),
        (4, "k3", "v3"),
        (5, "k4", "v4"),
    ]
    assert [r.offset for r in decode([first, second], 0, 100, "utf8", "k4", 10)] == [5]
    assert [r.offset for r in decode([first, second], 0, 100, "utf8", None, 2)] == [0, 1]


def test_a_damaged_batch_ends_the_page_with_what_came_before() -> None:
    good = with_offsets(build_batch([Record(key=None, value=b"ok")]), 0, 0)
    damaged = bytearray(with_offsets(build_batch([Record(key=None, value=b"bad")]), 1, 0))
    damaged[-1] ^= 0xFF  # the CRC no longer matches
    assert [r.value for r in decode([good, bytes(damaged)], 0, 10, "utf8", None, 10)] == ["ok"]


def test_html_is_escaped_and_a_single_lag_sample_draws_a_line() -> None:
    assert esc('<script>"x"</script>') == "&lt;script&gt;&quot;x&quot;&lt;/script&gt;"
    one = sparkline([3])
    assert 'points="0.0,2.0 120.0,2.0"' in one  # from edge to edge at the top: the maximum
    assert "at most 9" in sparkline([1, 9, 4])
    assert "no samples" in sparkline([])
