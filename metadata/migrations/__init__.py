"""Schema migrations: numbered SQL files, applied in order at start-up.

The folder `schema/` holds files named `NNNN_description.sql`, written once for both backends:
`{bigint}`, `{uuid}`, `{json}` and `{without_rowid}` stand for what differs, and each backend
gets them filled in with its own (BACKEND_TYPES). A backend applies every migration whose version
its `schema_migrations` table lacks, each in its own transaction together with the row recording it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)"
)

# What the placeholders of the migrations stand for in each backend.
BACKEND_TYPES = {
    "sqlite": {"bigint": "INTEGER", "uuid": "TEXT", "json": "TEXT", "without_rowid": " WITHOUT ROWID"},
    "postgres": {"bigint": "BIGINT", "uuid": "UUID", "json": "JSONB", "without_rowid": ""},
}

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
    types = BACKEND_TYPES[backend]
    return [
        Migration(migration.version, migration.name, migration.sql.format_map(types))
        for migration in migrations_in(files(__name__).joinpath("schema"))
    ]
