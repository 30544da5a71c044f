"""The production metadata store on PostgreSQL: a module per role over one database (metadata.postgres.database)."""

from metadata.postgres.notifications import CHANGES_CHANNEL, LISTEN_APPLICATION_NAME
from metadata.postgres.store import PostgresMetadataStore

__all__ = ["CHANGES_CHANNEL", "LISTEN_APPLICATION_NAME", "PostgresMetadataStore"]
