"""Metadata stores (metadata.base.MetadataStore, a role per attribute): SQLite embedded, PostgreSQL for production."""

from __future__ import annotations

from streamhouse.metadata.base import MetadataStore


def open_metadata_store(url: str, pool_size: int = 10) -> MetadataStore:
    """A store for a URL: sqlite:///path/to/file.db, sqlite://:memory: for a throwaway one,
    or postgresql://user:password@host:port/database (postgres:// too), with at most
    `pool_size` pooled connections (SQLite has one connection; the size does not apply).
    """
    if url.startswith("sqlite://"):
        from streamhouse.metadata.sqlite import SqliteMetadataStore

        path = url.removeprefix("sqlite://")
        return SqliteMetadataStore(":memory:" if path == ":memory:" else path)
    if url.startswith(("postgresql://", "postgres://")):
        from streamhouse.metadata.postgres import PostgresMetadataStore

        return PostgresMetadataStore(url, pool_size)
    raise ValueError(
        f"unsupported metadata store URL {url!r}: use sqlite:///path/metadata.db or postgresql://host/database"
    )
