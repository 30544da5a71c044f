"""The production metadata store on PostgreSQL: a module per role over one database (metadata.postgres.database)."""

from streamhouse.metadata.postgres.notifications import CHANGES_CHANNEL, LISTEN_APPLICATION_NAME
from streamhouse.metadata.postgres.store import PostgresMetadataStore

__all__ = ["CHANGES_CHANNEL", "LISTEN_APPLICATION_NAME", "PostgresMetadataStore"]
