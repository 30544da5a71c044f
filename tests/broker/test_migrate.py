"""`streamhouse migrate`: applies the pending migrations of a SQLite or PostgreSQL store and says which."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from streamhouse.metadata.migrations import backend_migrations

ROOT = Path(__file__).parents[2]


def migrate(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "migrate", "--metadata", url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def applied_line(backend: str) -> str:
    return "applied migrations " + ", ".join(f"{m.version:04d}" for m in backend_migrations(backend)) + "\n"


def test_migrate_sqlite_applies_then_has_nothing_to_do(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'meta' / 'metadata.db'}"
    first = migrate(url)
    assert (first.returncode, first.stdout) == (0, applied_line("sqlite"))
    again = migrate(url)
    assert (again.returncode, again.stdout) == (0, "no pending migrations: the schema is up to date\n")


async def test_migrate_postgres_applies_then_has_nothing_to_do(pg_dsn: str) -> None:
    first = migrate(pg_dsn)
    assert (first.returncode, first.stdout) == (0, applied_line("postgres"))
    connection = await asyncpg.connect(pg_dsn)
    try:
        versions = [row[0] for row in await connection.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        await connection.close()
    assert versions == [m.version for m in backend_migrations("postgres")]
    again = migrate(pg_dsn)
    assert (again.returncode, again.stdout) == (0, "no pending migrations: the schema is up to date\n")


@pytest.mark.parametrize("url", ["mysql://db/x", "postgresql://postgres@127.0.0.1:1/none"])
def test_migrate_fails_cleanly(url: str) -> None:
    done = migrate(url)
    assert done.returncode == 1
    assert done.stderr.startswith("streamhouse migrate: ")
