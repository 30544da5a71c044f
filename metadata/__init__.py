"""Metadata stores behind one Protocol (metadata.base.MetadataStore): SQLite embedded, PostgreSQL later."""

from __future__ import annotations

from metadata.base import MetadataStore


def open_metadata_store(url: str) -> MetadataStore:
    """A store for a URL: sqlite:///path/to/file.db, or sqlite://:memory: for a throwaway one."""
    if url.startswith("sqlite://"):
        from metadata.sqlite import SqliteMetadataStore

        path = url.removeprefix("sqlite://")
        return SqliteMetadataStore(":memory:" if path == ":memory:" else path)
    raise ValueError(f"unsupported metadata store URL {url!r}: use sqlite:///path/metadata.db")
