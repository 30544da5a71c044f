"""The embedded metadata store on SQLite: a module per role over one database (metadata.sqlite.database)."""

from streamhouse.metadata.sqlite.store import SqliteMetadataStore

__all__ = ["SqliteMetadataStore"]
