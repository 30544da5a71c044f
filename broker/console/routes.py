"""The console: routes GET and POST requests of the HTTP port to pages and actions, with sessions and CSRF.

Without an authorizer every visitor is User:ANONYMOUS and sees everything; with --authorizer acl a
visitor signs in with a SASL user's name and password (checked as SASL/PLAIN checks them) and sees
only the topics, groups and transactional ids that principal may DESCRIBE. Forms need the session's
CSRF token (else 403) and are refused (403) with --console-read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import time
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from streamhouse.broker.client import GroupView
from streamhouse.broker.console import browser, pages
from streamhouse.broker.console.lag import SAMPLE_INTERVAL_S, LagHistory
from streamhouse.broker.console.sessions import COOKIE, Session, Sessions, cookie_header
from streamhouse.broker.console.state import ConsoleState
from streamhouse.broker.console.template import CSRF_FIELD, esc, page, path_of
from streamhouse.broker.console.web import HttpRequest, HttpResponse, html, redirect
from streamhouse.broker.security import ANONYMOUS
from streamhouse.broker.security.authorizer import Operation, ResourceType
from streamhouse.broker.security.sasl import AuthenticationFailedError
from streamhouse.broker.topics import cleanup_policies, effective_config
from streamhouse.metadata.base import CommittedOffset
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.records import Record, build_batch, iter_batches, set_log_append_time

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from streamhouse.broker.app import Broker

log = logging.getLogger(__name__)

# Only our own script and style sheet run, and no other site may frame the pages (clickjacking of the forms).
PAGE_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)
STATIC = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}


class Console:
    def __init__(self, broker: Broker, unready: Callable[[], Awaitable[dict[str, str]]]) -> None:
        self.broker = broker
        self.unready = unready
        self.read_only = broker.config.console_read_only
        self.state = ConsoleState(broker)
        self.sessions = Sessions(ANONYMOUS)
        self.history = LagHistory()
        self._sampler: asyncio.Task[None] | None = None
        self._static = {
            name: resources.files("streamhouse.broker.console").joinpath("static", name).read_bytes() for name in STATIC
        }

    @property
    def signs_in(self) -> bool:
        return self.broker.authorizer.enabled

    def start(self) -> None:
        self._sampler = asyncio.create_task(self._sample_forever(), name="console-lag-history")

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)

    # -- routing -------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if not self._host_allowed(request.headers.get("host", "")):
            # Another site's name resolved to this address (DNS rebinding) must not read or post the pages.
            return html(page("Refused", "<p>Open the console by the broker's address.</p>"), 403, PAGE_HEADERS)
        if request.path.startswith("/console/static/"):
            name = request.path.removeprefix("/console/static/")
            if name not in STATIC:
                return html("<p>Not found</p>", 404)
            return HttpResponse(200, STATIC[name], self._static[name], (("Cache-Control", "max-age=300"),))
        session = self.sessions.find(request.cookie(COOKIE), request.peer_host)
        fresh: tuple[tuple[str, str], ...] = ()
        if session is None:
            session = self.sessions.new(request.peer_host, None if self.signs_in else ANONYMOUS)
            fresh = (cookie_header(session),)
        if request.method == "POST" and not session.csrf_matches(request.form().get(CSRF_FIELD)):
            response = self._page(
                session, "Refused", "<p>Missing or wrong CSRF token: reload the page.</p>", status=403
            )
        else:
            response = await self._route(request, session)
        return HttpResponse(
            response.status, response.content_type, response.payload, response.headers + fresh + PAGE_HEADERS
        )

    async def _route(self, request: HttpRequest, session: Session) -> HttpResponse:
        parts = [unquote(part) for part in request.path.strip("/").split("/")]
        if parts == ["console", "login"]:
            return await self._login(request, session)
        if self.signs_in and not session.signed_in:
            return redirect("/console/login")
        if request.method == "GET" and request.path == "/":
            body = await self._front(session, request.params().get("q", ""))
            return self._page(session, "Overview", body, refresh_ms=pages.REFRESH_MS)
        if len(parts) >= 3 and parts[0] == "console" and parts[1] in ("topic", "group"):
            kind, name, action = parts[1], parts[2], parts[3:]
            resource = ResourceType.TOPIC if kind == "topic" else ResourceType.GROUP
            if not self._visible(session, resource, name):
                return self._page(session, "Not found", f"<p>No {kind} {esc(name)}.</p>", status=404)
            if request.method == "GET" and not action:
                view = self._topic_page if kind == "topic" else self._group_page
                return await view(request, session, name)
            if request.method == "POST" and len(action) == 1:
                if self.read_only:
                    return self._page(session, "Refused", "<p>The console is read-only.</p>", status=403)
                act = {("topic", "produce"): self._produce, ("group", "reset"): self._reset}.get((kind, action[0]))
                if act is not None:
                    return await act(request, session, name)
        if request.method == "POST" and parts == ["console", "logout"]:
            self.sessions.end(session)
            return redirect("/")
        return self._page(session, "Not found", "<p>No such page.</p>", status=404)

    def _host_allowed(self, host_header: str) -> bool:
        """An IP address, localhost, or a host name the broker listens or advertises on (a Host header, port aside)."""
        host = urlsplit(f"//{host_header}").hostname or ""
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(host)
            return True
        config = self.broker.config
        named = {config.host, config.metrics_host, config.advertised_host}
        named |= {listener.host for listener in self.broker.cluster.me.listeners}
        return host == "localhost" or host.endswith(".localhost") or host in {n.lower() for n in named if n}

    def _visible(self, session: Session, resource: ResourceType, name: str) -> bool:
        return self.broker.authorizer.may_describe(session, resource, name)

    def _page(
        self, session: Session, title: str, body: str, *, status: int = 200, refresh_ms: int = 0, notice: str = ""
    ) -> HttpResponse:
        signed_in = (session.principal, session.csrf) if self.signs_in and session.signed_in else None
        return html(page(title, body, signed_in=signed_in, refresh_ms=refresh_ms, notice=notice), status)

    # -- pages ---------------------------------------------------------------

    async def _front(self, session: Session, name_filter: str) -> str:
        def listed(resource: ResourceType) -> Callable[[str], bool]:
            return lambda name: name_filter in name and self._visible(session, resource, name)

        return pages.front(
            name_filter,
            self.state.brokers(),
            await self.unready(),
            await self.state.topics(listed(ResourceType.TOPIC)),
            await self.state.groups(listed(ResourceType.GROUP)),
            await self.state.transactions(lambda name: self._visible(session, ResourceType.TRANSACTIONAL_ID, name)),
        )

    async def _topic_page(self, request: HttpRequest, session: Session, name: str, notice: str = "") -> HttpResponse:
        info = await self.broker.topics.get(name)
        if info is None:
            return self._page(session, "Not found", f"<p>No topic {esc(name)}.</p>", status=404)
        browse = browser.browse_params(request.params(), info.partitions)
        rows = await browser.records(self.broker, info, browse)
        body = pages.topic(info, await self.state.partitions(info), browse, rows, session.csrf, self.read_only)
        return self._page(session, f"Topic {name}", body, notice=request.params().get("notice", notice))

    async def _group_page(self, request: HttpRequest, session: Session, group_id: str) -> HttpResponse:
        detail = await self.state.group(group_id)
        if not self.history.has(group_id):
            self.history.record(group_id, _lags(detail))
        # As OffsetFetch: the offsets of topics the viewer may not DESCRIBE are left out.
        shown = tuple(row for row in detail.partitions if self._visible(session, ResourceType.TOPIC, row.topic))
        detail = dataclasses.replace(detail, partitions=shown)
        body = pages.group(detail, self.history, session.csrf, self.read_only)
        notice = request.params().get("notice", "")
        return self._page(session, f"Group {group_id}", body, refresh_ms=pages.REFRESH_MS, notice=notice)

    async def _login(self, request: HttpRequest, session: Session) -> HttpResponse:
        if not self.signs_in:
            return redirect("/")
        failed = False
        if request.method == "POST":
            form = request.form()
            user = form.get("username", "")
            password = form.get("password", "")
            checker = self.broker.sasl.password_checker()
            try:
                await checker.step(b"\x00" + user.encode() + b"\x00" + password.encode())
            except AuthenticationFailedError:
                failed = True
                await asyncio.sleep(self.broker.config.connection_failed_authentication_delay_ms / 1000)
            else:
                # A new session id on sign-in: an id known before it (fixation) is worth nothing after.
                self.sessions.end(session)
                signed_in = self.sessions.new(request.peer_host, f"User:{user}")
                return redirect("/", (cookie_header(signed_in),))
        return self._page(session, "Sign in", pages.login(session.csrf, failed), status=401 if failed else 200)

    # -- actions ---------------------------------------------------------------

    async def _produce(self, request: HttpRequest, session: Session, name: str) -> HttpResponse:
        info = await self.broker.topics.get(name)
        if info is None or not self.broker.authorizer.allows(session, Operation.WRITE, ResourceType.TOPIC, name):
            return self._page(session, "Refused", f"<p>May not write to {esc(name)}.</p>", status=403)
        form = request.form()
        partition = int(form["partition"]) if form.get("partition", "").isdigit() else -1
        if not 0 <= partition < info.partitions:
            return self._page(session, "Bad request", "<p>No such partition.</p>", status=400)
        lines = [line for line in form.get("headers", "").splitlines() if line.strip()]
        if not all("=" in line and line.partition("=")[0].strip() for line in lines):
            return self._page(session, "Bad request", "<p>Give each header as name=value.</p>", status=400)
        headers: list[tuple[str, bytes | None]] = [
            (name.strip(), value.encode()) for name, _, value in (line.partition("=") for line in lines)
        ]
        key = form.get("key", "")
        record = Record(key=key.encode() if key else None, value=form.get("value", "").encode(), headers=headers)
        data = build_batch([record])
        # What the produce handler checks of such a batch, and its stamp on a LogAppendTime topic.
        defaults = self.broker.broker_defaults
        if not key and "compact" in cleanup_policies(info, defaults):
            return self._page(session, "Bad request", "<p>A compacted topic's records need a key.</p>", status=400)
        max_bytes = int(effective_config(info, "max.message.bytes", defaults))
        if len(data) > max_bytes:
            too_large = f"<p>The record takes {len(data)} bytes, above max.message.bytes={max_bytes}.</p>"
            return self._page(session, "Bad request", too_large, status=400)
        if effective_config(info, "message.timestamp.type", defaults) == "LogAppendTime":
            data, header = set_log_append_time(data, time.time_ns() // 1_000_000)
        else:
            [(header, _)] = iter_batches(data)
        result = await self.broker.log.append(info.topic_id, partition, data, header)
        if result.error_code:
            refused = f"<p>The log refused the record: error {result.error_code}.</p>"
            return self._page(session, "Not produced", refused, status=503)
        notice = f"Produced at offset {result.base_offset} of partition {partition}."
        return redirect(
            path_of("topic", name, partition=partition, notice=notice, **{"from": "end", "order": "newest"})
        )

    async def _reset(self, request: HttpRequest, session: Session, group_id: str) -> HttpResponse:
        form = request.form()
        detail = await self.state.group(group_id)
        if detail.state != "Empty":
            return redirect(path_of("group", group_id, notice=f"Not reset: the group is {detail.state}, not Empty."))
        # As OffsetCommit: READ on the group and on every topic whose offsets change.
        topics = sorted({row.topic for row in detail.partitions})
        if not self.broker.authorizer.allows(session, Operation.READ, ResourceType.GROUP, group_id) or not all(
            self.broker.authorizer.allows(session, Operation.READ, ResourceType.TOPIC, topic) for topic in topics
        ):
            return self._page(session, "Refused", f"<p>May not reset {esc(group_id)}.</p>", status=403)
        to = form.get("to", "")
        millis = browser.millis(form.get("timestamp", "")) if to == "timestamp" else None
        if to not in ("earliest", "latest") and millis is None:
            return redirect(path_of("group", group_id, notice="Not reset: give a timestamp."))
        offsets = []
        # Every partition of the topics the group has offsets in, as kafka-consumer-groups --all-topics does.
        for topic_name in topics:
            info = await self.broker.topics.get(topic_name)
            if info is None:
                continue
            for partition in range(info.partitions):
                state = await self.broker.log.state(info.topic_id, partition)
                target = state.log_start_offset if to == "earliest" else state.high_watermark
                if millis is not None:
                    found, _ = await self.broker.log_index.offset_at_timestamp(
                        info.topic_id, partition, millis, state.log_start_offset
                    )
                    target = state.high_watermark if found < 0 else found
                offsets.append(CommittedOffset(topic_name, partition, target))
        errors = await self.broker.coordinator.commit_offsets(group_id, -1, "", None, offsets)
        failed = [
            f"{o.topic}-{o.partition}: {e.name}" for o, e in zip(offsets, errors, strict=True) if e != ErrorCode.NONE
        ]
        notice = "Not reset: " + ", ".join(failed) if failed else f"Reset {len(offsets)} partitions to {to}."
        return redirect(path_of("group", group_id, notice=notice))

    # -- the lag history ---------------------------------------------------------

    async def _sample_forever(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # a failed round leaves a gap; the next one tries again
                log.warning("console lag sample failed: %s", exc)
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    async def sample(self) -> None:
        """One lag sample of every group this broker coordinates."""
        group_ids = {group.group_id for group in self.state.group_list(lambda _: True)}
        self.history.keep_only(group_ids)
        for group_id in sorted(group_ids):
            self.history.record(group_id, _lags(await self.state.group(group_id)))


def _lags(detail: GroupView) -> dict[tuple[str, int], int]:
    return {(row.topic, row.partition): row.lag for row in detail.partitions if row.lag is not None}
