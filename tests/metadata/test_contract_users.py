"""The MetadataStore contract, the users role (store.users): SCRAM credentials per user and mechanism.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

from streamhouse.metadata.base import MetadataStore, ScramCredential
from tests.metadata.conftest import Backend, OpenStore


def credential(user: str, mechanism: str = "SCRAM-SHA-256", iterations: int = 4096) -> ScramCredential:
    return ScramCredential(user, mechanism, b"salt\x00\xff" + user.encode(), iterations, b"\x01stored", b"\x02server")


async def test_upsert_list_and_replace_credentials(store: MetadataStore) -> None:
    assert await store.users.list_credentials() == []
    await store.users.upsert_credential(credential("bob", "SCRAM-SHA-512"))
    await store.users.upsert_credential(credential("alice"))
    await store.users.upsert_credential(credential("bob"))
    assert await store.users.list_credentials() == [
        credential("alice"),
        credential("bob"),
        credential("bob", "SCRAM-SHA-512"),
    ]
    replaced = ScramCredential("alice", "SCRAM-SHA-256", b"other", 8192, b"k1", b"k2")
    await store.users.upsert_credential(replaced)
    assert (await store.users.list_credentials())[0] == replaced


async def test_delete_one_mechanism_or_every_one(store: MetadataStore) -> None:
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        await store.users.upsert_credential(credential("bob", mechanism))
        await store.users.upsert_credential(credential("carol", mechanism))
    assert await store.users.delete_credentials("bob", "SCRAM-SHA-512") == 1
    assert await store.users.delete_credentials("bob", "SCRAM-SHA-512") == 0
    assert await store.users.delete_credentials("carol") == 2
    assert await store.users.delete_credentials("nobody") == 0
    assert await store.users.list_credentials() == [credential("bob")]


async def test_credentials_are_seen_by_another_store_on_the_same_database(
    shared_backend: Backend, open_store: OpenStore
) -> None:
    writer, reader = await open_store(), await open_store()
    await writer.users.upsert_credential(credential("dave", iterations=10_000))
    assert await reader.users.list_credentials() == [credential("dave", iterations=10_000)]
    await writer.users.delete_credentials("dave")
    assert await reader.users.list_credentials() == []
