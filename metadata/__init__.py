"""Metadata stores behind one Protocol (metadata.base.MetadataStore): SQLite embedded, PostgreSQL for production."""

from __future__ import annotations

from metadata.base import MetadataStore


def open_metadata_store(url: str) -> MetadataStore:
    """A store for a URL: sqlite:///path/to/file.db, sqlite://:memory: for a throwaway one,
    or postgresql://user:password@host:port/database (postgres:// too).
    """
    if url.startswith("sqlite://"):
        from metadata.sqlite import SqliteMetadataStore

        path = url.removeprefix("sqlite://")
        return SqliteMetadataStore(":memory:" if path == ":memory:" else path)
    if url.startswith(("postgresql://", "postgres://")):
        from metadata.postgres import PostgresMetadataStore

        return PostgresMetadataStore(url)
    raise ValueError(
        f"unsupported metadata store URL {url!r}: use sqlite:///path/metadata.db or postgresql://host/database"
    )
