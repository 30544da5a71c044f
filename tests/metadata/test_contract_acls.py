"""The MetadataStore contract, the ACL role (store.acls): bindings and their version.

Run on every backend of conftest.BACKENDS (see tests/metadata/contract.py)."""

from __future__ import annotations

from streamhouse.metadata.base import AclBinding, MetadataStore
from tests.metadata.conftest import Backend, OpenStore

TOPIC, GROUP, LITERAL, PREFIXED, READ, WRITE, DENY, ALLOW = 2, 3, 3, 4, 3, 4, 2, 3


def binding(name: str = "orders", principal: str = "User:alice", operation: int = READ) -> AclBinding:
    return AclBinding(TOPIC, name, LITERAL, principal, "*", operation, ALLOW)


async def test_add_list_and_delete_bindings(store: MetadataStore) -> None:
    assert await store.acls.list_acls() == []
    denied = AclBinding(GROUP, "g-", PREFIXED, "User:bob", "10.0.0.1", WRITE, DENY)
    await store.acls.add_acls([binding("b"), denied, binding("a")])
    assert await store.acls.list_acls() == sorted([binding("a"), binding("b"), denied])
    await store.acls.delete_acls([binding("a"), binding("missing")])
    assert await store.acls.list_acls() == sorted([binding("b"), denied])


async def test_a_binding_added_twice_is_stored_once(store: MetadataStore) -> None:
    await store.acls.add_acls([binding(), binding()])
    await store.acls.add_acls([binding()])
    assert await store.acls.list_acls() == [binding()]


async def test_bindings_differing_in_any_field_are_distinct(store: MetadataStore) -> None:
    variants = [
        binding(),
        binding(principal="User:bob"),
        binding(operation=WRITE),
        AclBinding(TOPIC, "orders", PREFIXED, "User:alice", "*", READ, ALLOW),
        AclBinding(TOPIC, "orders", LITERAL, "User:alice", "10.0.0.1", READ, ALLOW),
        AclBinding(TOPIC, "orders", LITERAL, "User:alice", "*", READ, DENY),
        AclBinding(GROUP, "orders", LITERAL, "User:alice", "*", READ, ALLOW),
    ]
    await store.acls.add_acls(variants)
    assert await store.acls.list_acls() == sorted(variants)


async def test_the_version_grows_with_every_change_and_only_then(store: MetadataStore) -> None:
    start = await store.acls.acls_version()
    await store.acls.add_acls([binding()])
    added = await store.acls.acls_version()
    assert added > start
    await store.acls.add_acls([binding()])
    await store.acls.delete_acls([binding("missing")])
    await store.acls.add_acls([])
    assert await store.acls.acls_version() == added
    await store.acls.delete_acls([binding()])
    assert await store.acls.acls_version() > added


async def test_stores_sharing_a_database_see_each_others_bindings(
    shared_backend: Backend, open_store: OpenStore
) -> None:
    first, second = await open_store(), await open_store()
    version = await second.acls.acls_version()
    await first.acls.add_acls([binding()])
    assert await second.acls.list_acls() == [binding()]
    assert await second.acls.acls_version() > version
