"""The console's view of HTTP: a parsed request, a response to write, forms and cookies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    peer_host: str

    def params(self) -> dict[str, str]:
        """The query string's parameters, the first value of each."""
        return _first_values(self.query)

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body's fields, the first value of each."""
        return _first_values(self.body.decode("utf-8", "replace"))

    def cookie(self, name: str) -> str | None:
        for part in self.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    content_type: str
    payload: bytes
    headers: tuple[tuple[str, str], ...] = field(default=())


def html(body: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, HTML, body.encode(), headers)


def redirect(location: str, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    """303 See Other: after a form's POST the browser GETs `location` (a path of ours)."""
    return HttpResponse(303, HTML, b"", (("Location", location), *headers))


def _first_values(encoded: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(encoded, keep_blank_values=True).items()}
