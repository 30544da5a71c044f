"""The console's pages, rendered as HTML strings from what broker/console/state.py read."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from streamhouse.broker.client import GroupView
from streamhouse.broker.console.browser import ORDERS, ORIGINS, Browse
from streamhouse.broker.console.lag import LagHistory
from streamhouse.broker.console.records import FORMATS, RecordRow
from streamhouse.broker.console.state import GroupRow, TopicRow
from streamhouse.broker.console.template import esc, form, link, path_of, sparkline, table
from streamhouse.metadata.base import PartitionState, TopicInfo

REFRESH_MS = 5000
TABLE_BYTES = 36_000  # of the cells of the front page's topics, and of its groups


def _time(ms: int) -> str:
    if ms < 0:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat(timespec="milliseconds")


def _num(value: int | None) -> str:
    """A number; None (such as the lag of a partition with nothing committed) as "-", as the CLI shows it."""
    return "-" if value is None else f'<span class="num">{value}</span>'


def _within(rows: list[tuple[str, ...]], budget: int) -> list[tuple[str, ...]]:
    """The first rows whose cells take `budget` bytes at most (names can be long: the page stays < 100 KB)."""
    kept = []
    for row in rows:
        budget -= sum(len(cell.encode()) + 9 for cell in row)  # 9: <td></td>
        if budget < 0:
            break
        kept.append(row)
    return kept


def _counted(what: str, shown: int, total: int) -> str:
    if shown == total:
        return f"<h2>{what} ({total})</h2>"
    return f"<h2>{what} (the first {shown} of {total}: filter by name to find the others)</h2>"


def front(
    name_filter: str,
    brokers: Sequence[tuple[int, str, str]],
    unready: dict[str, str],
    topics: tuple[Sequence[TopicRow], int],
    groups: tuple[Sequence[GroupRow], int],
    transactions: Sequence[tuple[str, int, int, str, int]],
) -> str:
    readiness = "ready" if not unready else "not ready: " + "; ".join(f"{k}: {v}" for k, v in unready.items())
    broker_rows = [
        (esc(i), esc(listeners), esc(uptime), esc(readiness if uptime else "live")) for i, listeners, uptime in brokers
    ]
    topic_rows = _within(
        [
            (
                link(path_of("topic", t.topic.name), t.topic.name),
                _num(t.topic.partitions),
                _num(t.records),
                _num(t.bytes),
                esc(t.cleanup),
                esc(t.retention_ms),
            )
            for t in topics[0]
        ],
        TABLE_BYTES,
    )
    group_rows = _within([_group_row(g) for g in groups[0]], TABLE_BYTES)
    transaction_rows = _within(
        [
            (esc(tid), _num(pid), _num(epoch), esc(state), esc(_time(started)))
            for tid, pid, epoch, state, started in transactions
        ],
        TABLE_BYTES // 2,
    )
    return (
        "<h2>Brokers</h2>"
        + table(("ID", "LISTENERS", "UPTIME", "READINESS"), broker_rows, name="brokers")
        + '<form method="get" action="/">'
        + _input("topics and groups whose name contains", "q", name_filter, size=24)
        + '<button type="submit">Filter</button></form>'
        + _counted("Topics", len(topic_rows), topics[1])
        + table(
            ("TOPIC", "PARTITIONS", "RECORDS", "BYTES", "CLEANUP", "RETENTION MS"),
            topic_rows,
            "no topics",
            name="topics",
        )
        + _counted("Consumer groups", len(group_rows), groups[1])
        + table(("GROUP", "TYPE", "STATE", "MEMBERS", "TOTAL LAG"), group_rows, "no groups", name="groups")
        + "<h2>Open transactions</h2>"
        + table(
            ("TRANSACTIONAL ID", "PRODUCER ID", "EPOCH", "STATE", "STARTED"),
            transaction_rows,
            "none open",
            name="transactions",
        )
    )


def _group_row(row: GroupRow) -> tuple[str, ...]:
    group = row.group
    link_to = link(path_of("group", group.group_id), group.group_id)
    return (link_to, esc(group.group_type), esc(group.state), _num(row.members), _num(row.lag))


def _shown(escaped: str | None) -> str:
    return '<span class="empty">null</span>' if escaped is None else f"<pre>{escaped}</pre>"


def _select(name: str, choices: Sequence[str], chosen: str) -> str:
    options = "".join(
        f'<option value="{esc(c)}"{" selected" if c == chosen else ""}>{esc(c)}</option>' for c in choices
    )
    return f'<select name="{esc(name)}">{options}</select>'


def _input(label: str, name: str, value: object = "", kind: str = "text", size: int = 10) -> str:
    return f'<label>{esc(label)} <input type="{kind}" name="{esc(name)}" value="{esc(value)}" size="{size}"></label>'


def topic(
    info: TopicInfo,
    partitions: Sequence[PartitionState],
    browse: Browse,
    rows: Sequence[RecordRow],
    csrf: str,
    read_only: bool,
) -> str:
    partition_rows = [
        (_num(i), _num(p.log_start_offset), _num(p.high_watermark), _num(p.high_watermark - p.log_start_offset))
        for i, p in enumerate(partitions)
    ]
    numbers = [str(i) for i in range(len(partitions))]
    browser = (
        f'<form method="get" action="{esc(path_of("topic", info.name))}">'
        f"<label>partition {_select('partition', numbers, str(browse.partition))}</label>"
        f"<label>from {_select('from', ORIGINS, browse.origin)}</label>"
        + _input("offset", "offset", browse.offset, "number")
        + _input("timestamp", "timestamp", browse.timestamp, size=24)
        + f"<label>order {_select('order', ORDERS, browse.order)}</label>"
        f"<label>values as {_select('format', FORMATS, browse.fmt)}</label>"
        + _input("key contains", "key", browse.key)
        + _input("limit", "limit", browse.limit, "number", 4)
        + '<button type="submit">Show</button></form>'
    )
    record_rows = [
        (
            _num(r.offset) + (f' <span class="tag">{esc(r.transaction)}</span>' if r.transaction else ""),
            esc(_time(r.timestamp)),
            _shown(r.key_html),
            _shown(r.value_html),
            "<br>".join(f"{name}: {'null' if value is None else value}" for name, value in r.headers_html),
        )
        for r in rows
    ]
    produce = form(
        path_of("topic", info.name) + "/produce",
        csrf,
        f"<label>partition {_select('partition', numbers, '0')}</label>"
        + _input("key", "key", size=16)
        + '<label>value <textarea name="value"></textarea></label>'
        + '<label>headers (name=value per line) <textarea name="headers"></textarea></label>',
        "Produce",
        disabled=read_only,
    )
    return (
        f"<h2>Topic {esc(info.name)}</h2>"
        + table(("PARTITION", "LOG START", "LOG END", "RECORDS"), partition_rows, name="partitions")
        + "<h2>Records</h2>"
        + browser
        + table(("OFFSET", "TIMESTAMP", "KEY", "VALUE", "HEADERS"), record_rows, "no records", name="records")
        + "<h2>Produce a record</h2>"
        + ("<p>The console is read-only.</p>" if read_only else "")
        + produce
    )


def group(detail: GroupView, history: LagHistory, csrf: str, read_only: bool) -> str:
    member_rows = [
        (
            esc(m.member_id),
            esc(m.group_instance_id or ""),
            esc(m.client_id),
            esc(m.client_host),
            esc(", ".join(f"{t}-{p}" for t, p in m.partitions)),
        )
        for m in detail.members
    ]
    lag_rows = [
        (
            link(path_of("topic", row.topic, partition=row.partition), row.topic),
            _num(row.partition),
            _num(row.committed),
            _num(row.high_watermark),
            f'<span class="lag">{_num(row.lag)}</span>',
            esc(row.member_id or ""),
            sparkline(history.of(detail.group_id, row.topic, row.partition)),
        )
        for row in detail.partitions
    ]
    empty = detail.state == "Empty"
    reset = form(
        path_of("group", detail.group_id) + "/reset",
        csrf,
        f"<label>to {_select('to', ('earliest', 'latest', 'timestamp'), 'earliest')}</label>"
        + _input("timestamp (ISO 8601 or ms)", "timestamp", size=24),
        "Reset offsets",
        disabled=read_only or not empty,
    )
    protocol = f", protocol {detail.protocol}" if detail.protocol else ""
    return (
        f"<h2>Group {esc(detail.group_id)}</h2>"
        f"<p>{esc(detail.protocol_type or 'no protocol type')}, state <b>{esc(detail.state)}</b>{esc(protocol)}, "
        f"{len(detail.members)} members</p>"
        + table(("MEMBER", "INSTANCE", "CLIENT-ID", "HOST", "PARTITIONS"), member_rows, "no members", name="members")
        + "<h2>Committed offsets and lag</h2>"
        + table(
            ("TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "MEMBER", "LAG HISTORY"), lag_rows, name="lag"
        )
        + "<h2>Reset offsets</h2>"
        + ("<p>Only an Empty group's offsets can be reset.</p>" if not empty else "")
        + ("<p>The console is read-only.</p>" if read_only else "")
        + reset
    )


def login(csrf: str, failed: bool) -> str:
    return (
        "<h2>Sign in</h2><p>The broker's ACL authorizer is on: sign in as a SASL user "
        "(the credentials of <code>streamhouse users add</code>).</p>"
        + ('<p class="notice">Invalid user name or password.</p>' if failed else "")
        + form(
            "/console/login",
            csrf,
            _input("user", "username", size=16) + _input("password", "password", kind="password", size=16),
            "Sign in",
        )
    )
