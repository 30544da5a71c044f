"""The console's parts without a browser: the lag history's bounds, value formats, record decoding, sparklines."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from streamhouse.broker.cli import build_parser
from streamhouse.broker.config import config_from
from streamhouse.broker.console import lag, pages
from streamhouse.broker.console.browser import MAX_LIMIT, Browse
from streamhouse.broker.console.lag import LagHistory
from streamhouse.broker.console.records import FORMATS, MAX_SHOWN_BYTES, PAGE_SHOWN_BYTES, decode, show
from streamhouse.broker.console.state import MAX_LISTED, GroupRow, TopicRow
from streamhouse.broker.console.template import esc, page, sparkline
from streamhouse.broker.groups.admin import GroupOverview
from streamhouse.metadata.base import AbortedTransaction, CommittedOffset, PartitionState, TopicInfo
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import (
    Compression,
    Record,
    build_batch,
    build_marker_batch,
    iter_batches,
    with_offsets,
)
from tests.broker.inprocess import running_broker


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
    assert long is not None and long.endswith("…") and len(long.removesuffix("…")) <= MAX_SHOWN_BYTES
    # Escaped for HTML, and clipped by the escaped size: "<" takes four bytes shown.
    assert show(b"<b>&", "utf8") == "&lt;b&gt;&amp;"
    assert show(b"<" * 100, "utf8", 40) == "&lt;" * 9 + "…"


def test_decoding_keeps_the_offset_range_the_key_filter_and_the_limit_and_skips_markers() -> None:
    records = [Record(key=f"k{n}".encode(), value=f"v{n}".encode()) for n in range(6)]
    first = with_offsets(build_batch(records[:3], compression=Compression.GZIP), 0, 0)
    marker = with_offsets(build_marker_batch(True, 1, 0), 3, 0)
    second = with_offsets(build_batch(records[3:]), 4, 0)
    rows = decode([first, marker, second], 1, 6, "utf8", None, 10, 100)
    assert [(r.offset, r.key_html, r.value_html) for r in rows] == [
        (1, "k1", "v1"),
        (2, "k2", "v2"),
        (4, "k3", "v3"),
        (5, "k4", "v4"),
    ]
    assert [r.offset for r in decode([first, second], 0, 100, "utf8", "k4", 10, 100)] == [5]
    assert [r.offset for r in decode([first, second], 0, 100, "utf8", None, 2, 100)] == [0, 1]


def test_a_damaged_batch_ends_the_page_with_what_came_before() -> None:
    good = with_offsets(build_batch([Record(key=None, value=b"ok")]), 0, 0)
    damaged = bytearray(with_offsets(build_batch([Record(key=None, value=b"bad")]), 1, 0))
    damaged[-1] ^= 0xFF  # the CRC no longer matches
    assert [r.value_html for r in decode([good, bytes(damaged)], 0, 10, "utf8", None, 10, 100)] == ["ok"]


def test_html_is_escaped_and_a_single_lag_sample_draws_a_line() -> None:
    assert esc('<script>"x"</script>') == "&lt;script&gt;&quot;x&quot;&lt;/script&gt;"
    one = sparkline([3])
    assert 'points="0.0,2.0 120.0,2.0"' in one  # from edge to edge at the top: the maximum
    assert "at most 9" in sparkline([1, 9, 4])
    assert "no samples" in sparkline([])


def test_a_topic_page_of_the_most_records_with_the_worst_values_stays_under_100_kb() -> None:
    worst = Record(key=b"<" * 5000, value=b"&" * 100_000, headers=[("<" * 300, b"<" * 300)] * 20)
    batch = with_offsets(build_batch([worst] * MAX_LIMIT), 0, 0)
    for fmt in FORMATS:
        rows = decode([batch], 0, MAX_LIMIT, fmt, None, MAX_LIMIT, PAGE_SHOWN_BYTES // MAX_LIMIT)
        assert len(rows) == MAX_LIMIT
        info = TopicInfo(uuid.uuid4(), "t" * 249, 1)
        browse = Browse(0, "start", 0, "", "oldest", fmt, "", MAX_LIMIT)
        html = page(info.name, pages.topic(info, [PartitionState(0, MAX_LIMIT)], browse, rows, "x" * 43, False))
        assert len(html.encode()) < 100 * 1024, (fmt, len(html.encode()))


def test_a_front_page_of_the_most_topics_and_groups_with_the_longest_names_stays_under_100_kb() -> None:
    topics = [
        TopicRow(TopicInfo(uuid.uuid4(), f"{n:03}" + "t" * 246, 1000), 10**12, 10**15, "compact,delete", "-1")
        for n in range(MAX_LISTED)
    ]
    groups = [
        GroupRow(GroupOverview(f"{n:03}" + "g" * 246, "consumer", "PreparingRebalance"), 1000, 10**12)
        for n in range(MAX_LISTED)
    ]
    body = pages.front("", [(0, "PLAINTEXT://127.0.0.1:9092", "0h 0m 1s")], {}, (topics, 10**5), (groups, 10**5), [])
    html = page("Overview", body, refresh_ms=5000)
    assert len(html.encode()) < 100 * 1024, len(html.encode())
    assert "Topics (the first 50 of 100000: filter by name" in html  # the topics that fit, and a word on the filter


async def test_each_lag_sample_adds_a_point_per_committed_partition(tmp_path: Path) -> None:
    async with running_broker(tmp_path) as broker:
        console = broker.http.console
        assert console is not None
        topic = await broker.topic_admin.create("lagged", 1, {})

        async def append(count: int) -> None:
            data = build_batch([Record(key=None, value=b"v")] * count)
            [(header, _)] = iter_batches(data)
            assert (await broker.log.append(topic.topic_id, 0, data, header)).error_code == 0

        await append(5)
        committed = [CommittedOffset("lagged", 0, 2)]
        assert await broker.coordinator.commit_offsets("sampled", -1, "", None, committed) == [ErrorCode.NONE]
        await console.sample()
        await append(5)
        await console.sample()
        assert console.history.of("sampled", "lagged", 0) == [3, 8]


def test_the_console_options_and_the_default_bind() -> None:
    default = config_from(build_parser().parse_args(["serve"]), {})
    assert (default.console, default.console_read_only, default.metrics_host, default.host) == (
        True,
        False,
        None,
        "127.0.0.1",  # the HTTP port binds --host unless --metrics-host says otherwise
    )
    changed = config_from(
        build_parser().parse_args(["serve", "--console", "false"]), {"STREAMHOUSE_CONSOLE_READ_ONLY": "true"}
    )
    assert (changed.console, changed.console_read_only) == (False, True)


def test_records_of_aborted_and_open_transactions_are_marked() -> None:
    two = [Record(key=None, value=b"a"), Record(key=None, value=b"b")]
    aborted = with_offsets(
        build_batch(two, producer_id=7, producer_epoch=0, base_sequence=0, is_transactional=True), 0, 0
    )
    marker = with_offsets(build_marker_batch(False, 7, 0), 2, 0)
    plain = with_offsets(build_batch([Record(key=None, value=b"c")]), 3, 0)
    open_one = [Record(key=None, value=b"d")]
    still_open = with_offsets(
        build_batch(open_one, producer_id=8, producer_epoch=0, base_sequence=0, is_transactional=True), 4, 0
    )
    rows = decode(
        [aborted, marker, plain, still_open], 0, 5, "utf8", None, 10, 400,
        aborted=[AbortedTransaction(7, 0, 2)], last_stable=4,
    )  # fmt: skip
    assert [(r.offset, r.value_html, r.transaction) for r in rows] == [
        (0, "a", "aborted"),
        (1, "b", "aborted"),
        (3, "c", ""),
        (4, "d", "uncommitted"),
    ]
