"""The broker's view of the users' SCRAM credentials: a cache of the metadata store's users role,
re-read every REFRESH_SECONDS so that a change made through any broker (or `streamhouse users`)
reaches every broker within a second, and the admin operations behind APIs 50 and 51.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from streamhouse.broker.periodic import repeat
from streamhouse.broker.security.scram import check_credential, credential_from_salted, new_credential
from streamhouse.metadata.base import ScramCredential
from streamhouse.metadata.roles import UserStore

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.5


class UserCredentials:
    def __init__(self, store: UserStore) -> None:
        self._store = store
        self._credentials: dict[tuple[str, str], ScramCredential] = {}
        self._task: asyncio.Task[None] | None = None

    def get(self, user: str, mechanism: str) -> ScramCredential | None:
        return self._credentials.get((user, mechanism))

    def of_user(self, user: str) -> list[ScramCredential]:
        return [c for (name, _), c in sorted(self._credentials.items()) if name == user]

    def all(self) -> list[ScramCredential]:
        return [self._credentials[key] for key in sorted(self._credentials)]

    async def refresh(self) -> None:
        self._credentials = {(c.user, c.mechanism): c for c in await self._store.list_credentials()}

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(
            repeat(REFRESH_SECONDS, self.refresh, "re-reading the users' credentials"), name="user-credentials"
        )

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def upsert_salted(self, user: str, mechanism: str, salt: bytes, iterations: int, salted: bytes) -> None:
        """Store the credential of a salted password (ScramError for a refused iteration count)."""
        check_credential(iterations, salt, salted)
        await self._store.upsert_credential(credential_from_salted(user, mechanism, salt, iterations, salted))

    async def delete(self, user: str, mechanism: str) -> bool:
        return await self._store.delete_credentials(user, mechanism) > 0


async def add_user(store: UserStore, user: str, password: str, mechanism: str, iterations: int) -> None:
    """Store a new credential for a password (PBKDF2 off the event loop); ScramError for bad iterations."""
    credential = await asyncio.to_thread(new_credential, user, mechanism, password, iterations)
    await store.upsert_credential(credential)


def users_of(credentials: Sequence[ScramCredential]) -> dict[str, list[ScramCredential]]:
    """Credentials grouped by user, users in order."""
    grouped: dict[str, list[ScramCredential]] = {}
    for credential in sorted(credentials, key=lambda c: (c.user, c.mechanism)):
        grouped.setdefault(credential.user, []).append(credential)
    return grouped
