"""/ready and streamhouse_ready follow the metadata store: a broker on PostgreSQL whose database stops
taking connections goes to 503 (naming the metadata store) and comes back once it takes them again."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import asyncpg

from tests.brokerproc import BrokerProcess
from tests.e2e.test_features import http_get
from tests.pgserver import PgServer

RECOVERY_TIMEOUT = 60.0


def metric_value(broker: BrokerProcess, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics", timeout=30) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} is not in /metrics"
    return float(match.group(1))


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


async def set_connections_allowed(pg_server: PgServer, database: str, allowed: bool) -> None:
    admin = await asyncpg.connect(pg_server.dsn())
    try:
        await admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS {'true' if allowed else 'false'}")
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
    finally:
        await admin.close()


async def test_ready_follows_the_metadata_store(pg_server: PgServer, pg_dsn: str, tmp_path: Path) -> None:
    database = pg_dsn.rsplit("/", 1)[1]
    broker = BrokerProcess(tmp_path, ["--metadata", pg_dsn]).start()
    try:
        assert http_get(broker, "/ready") == (200, {"status": "ready", "broker_id": 0})
        assert metric_value(broker, "streamhouse_ready") == 1
        await set_connections_allowed(pg_server, database, False)
        try:
            status, body = http_get(broker, "/ready")
            assert status == 503
            assert body["status"] == "not ready"
            assert list(body["reasons"]) == ["metadata"], body
            assert metric_value(broker, "streamhouse_ready") == 0
        finally:
            await set_connections_allowed(pg_server, database, True)
        # The pool makes new connections on demand: ready again without a restart.
        wait_for(lambda: http_get(broker, "/ready")[0] == 200, "/ready to answer 200 again")
        assert metric_value(broker, "streamhouse_ready") == 1
    finally:
        assert broker.stop() == 0, broker.log_text()[-4000:]
