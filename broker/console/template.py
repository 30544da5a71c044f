"""Small helpers that build the console's HTML: escaping, the page frame, tables, forms and sparklines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote, urlencode

CSRF_FIELD = "csrf"


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def link(href: str, text: object) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def path_of(kind: str, name: str, **params: object) -> str:
    """/console/<kind>/<name>, the name quoted, with query parameters if given."""
    query = urlencode({key: str(value) for key, value in params.items()})
    return f"/console/{kind}/{quote(name, safe='')}" + (f"?{query}" if query else "")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str = "none", *, name: str = "") -> str:
    """A table of cells already rendered as HTML; `name` becomes its id."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="empty">{esc(empty)}</td></tr>'
    head = "".join(f"<th>{esc(header)}</th>" for header in headers)
    named = f' id="{esc(name)}"' if name else ""
    return f"<table{named}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def form(action: str, csrf: str, fields: str, button: str, *, disabled: bool = False) -> str:
    """A POST form carrying the session's CSRF token; `disabled` when the console is read-only."""
    off = " disabled" if disabled else ""
    return (
        f'<form method="post" action="{esc(action)}"><input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf)}">'
        f'{fields}<button type="submit"{off}>{esc(button)}</button></form>'
    )


def sparkline(values: Sequence[int], width: int = 120, height: int = 24) -> str:
    """An inline SVG line of `values` over time (oldest first), scaled to its maximum."""
    if not values:
        return '<span class="empty">no samples yet</span>'
    top = max(max(values), 1)
    drawn = list(values) if len(values) > 1 else [values[0], values[0]]  # one sample: a level line
    step = width / (len(drawn) - 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(drawn))
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>lag over the last {len(values)} samples, at most {max(values)}</title>"
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>'
    )


def page(
    title: str, body: str, *, signed_in: tuple[str, str] | None = None, refresh_ms: int = 0, notice: str = ""
) -> str:
    """A whole page: `body` goes in <main>, which console.js reloads every `refresh_ms` when set.

    `signed_in` (principal, CSRF token) puts the user's name and a sign-out button in the header.
    """
    live = f' data-refresh="{refresh_ms}"' if refresh_ms else ""
    who = ""
    if signed_in is not None:
        principal, csrf = signed_in
        who = f'<span class="user">{esc(principal)}</span>' + form("/console/logout", csrf, "", "Sign out")
    flash = f'<p class="notice">{esc(notice)}</p>' if notice else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)} · StreamHouse</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script></head>'
        f'<body><header><a href="/" class="brand">StreamHouse</a> <span>{esc(title)}</span>{who}</header>'
        f'{flash}<main id="live"{live}>{body}</main></body></html>'
    )
