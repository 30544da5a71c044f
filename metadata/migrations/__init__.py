"""Schema migrations: numbered SQL files per backend, applied in order at start-up.

Each backend has its own folder (`sqlite/`, `postgres/`) of files named `NNNN_description.sql`.
A backend applies every migration whose version its `schema_migrations` table lacks, each in
its own transaction together with the row recording it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)"
)

_FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations_in(folder: Traversable) -> list[Migration]:
    """The migrations of a folder, by version; ValueError for a misnamed .sql file or a repeated version."""
    found: dict[int, Migration] = {}
    for item in folder.iterdir():
        if not item.name.endswith(".sql"):
            continue
        match = _FILE_NAME.fullmatch(item.name)
        if match is None:
            raise ValueError(f"migration {item.name!r} is not named NNNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"migrations {found[version].name!r} and {item.name!r} share version {version}")
        found[version] = Migration(version, item.name, item.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


def backend_migrations(backend: str) -> list[Migration]:
    """The migrations shipped for a backend ("sqlite", "postgres"), by version."""
    return migrations_in(files(__name__).joinpath(backend))
