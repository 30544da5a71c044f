"""The ACL authorizer's decisions over bindings in a real (in-memory SQLite) metadata store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from streamhouse.broker.security.authorizer import (
    CLUSTER_NAME,
    AclFilter,
    Authorizer,
    Operation,
    PatternType,
    Permission,
    ResourceType,
    invalid_binding,
)
from streamhouse.metadata.base import AclBinding
from streamhouse.metadata.sqlite import SqliteMetadataStore

TOPIC, GROUP, CLUSTER, TXN = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER, ResourceType.TRANSACTIONAL_ID
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = Permission.ALLOW, Permission.DENY
Op = Operation


@dataclass
class Client:
    principal: str = "User:alice"
    peer_host: str = "10.0.0.1"


ALICE, BOB = Client(), Client("User:bob")


def acl(
    resource_type: int = TOPIC,
    name: str = "orders",
    operation: int = Op.READ,
    permission: int = ALLOW,
    principal: str = "User:alice",
    host: str = "*",
    pattern: int = LITERAL,
) -> AclBinding:
    return AclBinding(resource_type, name, pattern, principal, host, operation, permission)


@pytest.fixture
async def store() -> AsyncIterator[SqliteMetadataStore]:
    metadata = SqliteMetadataStore(":memory:")
    await metadata.start()
    yield metadata
    await metadata.close()


async def authorizer_with(
    store: SqliteMetadataStore, *bindings: AclBinding, super_users: tuple[str, ...] = (), allow_if_no_acl: bool = False
) -> Authorizer:
    await store.acls.add_acls(bindings)
    authorizer = Authorizer(store.acls, enabled=True, super_users=super_users, allow_if_no_acl=allow_if_no_acl)
    await authorizer.refresh()
    return authorizer


async def test_a_literal_binding_applies_to_its_name_only(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(store, acl())
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "orders")
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "orders2")
    assert not authorizer.allows(ALICE, Op.WRITE, TOPIC, "orders")
    assert not authorizer.allows(BOB, Op.READ, TOPIC, "orders")
    assert not authorizer.allows(ALICE, Op.READ, GROUP, "orders")  # another resource type


async def test_the_literal_wildcard_and_prefixes_apply_to_every_matching_name(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(
        store, acl(name="*", operation=Op.WRITE), acl(name="pay-", pattern=PREFIXED, operation=Op.READ)
    )
    assert authorizer.allows(ALICE, Op.WRITE, TOPIC, "anything")
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "pay-eu")
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "pay-")
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "pa")
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "xpay-eu")


async def test_deny_wins_over_allow_and_all_covers_every_operation(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(
        store,
        acl(operation=Op.ALL),
        acl(operation=Op.WRITE, permission=DENY),
        acl(name="secret-", pattern=PREFIXED, operation=Op.ALL, permission=DENY, principal="User:*"),
        acl(name="secret-1", operation=Op.ALL),
    )
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "orders")
    assert authorizer.allows(ALICE, Op.DELETE, TOPIC, "orders")
    assert not authorizer.allows(ALICE, Op.WRITE, TOPIC, "orders")
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "secret-1")


async def test_a_denied_describe_is_not_implied_by_a_denied_read(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(store, acl(operation=Op.DESCRIBE), acl(operation=Op.READ, permission=DENY))
    assert authorizer.allows(ALICE, Op.DESCRIBE, TOPIC, "orders")
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "orders")


@pytest.mark.parametrize("granted", [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.DESCRIBE, Op.ALL])
async def test_describe_is_implied_by_read_write_delete_alter(store: SqliteMetadataStore, granted: Operation) -> None:
    authorizer = await authorizer_with(store, acl(operation=granted))
    assert authorizer.allows(ALICE, Op.DESCRIBE, TOPIC, "orders")


@pytest.mark.parametrize("granted", [Op.CREATE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS, Op.CLUSTER_ACTION])
async def test_describe_is_not_implied_by_others(store: SqliteMetadataStore, granted: Operation) -> None:
    authorizer = await authorizer_with(store, acl(operation=granted))
    assert not authorizer.allows(ALICE, Op.DESCRIBE, TOPIC, "orders")


async def test_describe_configs_is_implied_by_alter_configs_only(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(store, acl(operation=Op.ALTER_CONFIGS), acl(name="other", operation=Op.ALTER))
    assert authorizer.allows(ALICE, Op.DESCRIBE_CONFIGS, TOPIC, "orders")
    assert not authorizer.allows(ALICE, Op.DESCRIBE_CONFIGS, TOPIC, "other")


async def test_hosts_match_exactly_or_by_wildcard(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(store, acl(host="10.0.0.1"), acl(name="t2", host="10.0.0.2"))
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "orders")
    assert not authorizer.allows(Client(peer_host="10.0.0.9"), Op.READ, TOPIC, "orders")
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "t2")


async def test_the_wildcard_principal_matches_everyone(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(store, acl(principal="User:*"))
    assert authorizer.allows(BOB, Op.READ, TOPIC, "orders")
    assert authorizer.allows(Client("User:ANONYMOUS"), Op.READ, TOPIC, "orders")


async def test_super_users_may_do_anything_even_when_denied(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(
        store, acl(principal="User:*", operation=Op.ALL, permission=DENY), super_users=("User:admin",)
    )
    admin = Client("User:admin")
    assert authorizer.allows(admin, Op.WRITE, TOPIC, "orders")
    assert authorizer.allows_cluster(admin, Op.ALTER)
    assert not authorizer.allows(ALICE, Op.WRITE, TOPIC, "orders")


@pytest.mark.parametrize("allow_if_no_acl", [False, True])
async def test_a_resource_without_bindings_follows_allow_everyone_if_no_acl_found(
    store: SqliteMetadataStore, allow_if_no_acl: bool
) -> None:
    authorizer = await authorizer_with(store, acl(principal="User:bob"), allow_if_no_acl=allow_if_no_acl)
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "unmentioned") is allow_if_no_acl
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "orders")  # a binding exists, for someone else


async def test_nothing_is_checked_without_the_authorizer(store: SqliteMetadataStore) -> None:
    await store.acls.add_acls([acl(principal="User:*", operation=Op.ALL, permission=DENY)])
    authorizer = Authorizer(store.acls, enabled=False)
    await authorizer.start()
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "orders")
    assert authorizer.authorized_operations(ALICE, GROUP, "g") == (1 << Op.READ) | (1 << Op.DESCRIBE) | (1 << Op.DELETE)
    assert authorizer.denials == {}


async def test_authorized_operations_are_kafkas_bitfield(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(
        store,
        acl(operation=Op.WRITE),
        acl(operation=Op.ALTER_CONFIGS),
        acl(resource_type=CLUSTER, name=CLUSTER_NAME, operation=Op.DESCRIBE),
    )
    expected = (1 << Op.WRITE) | (1 << Op.DESCRIBE) | (1 << Op.DESCRIBE_CONFIGS) | (1 << Op.ALTER_CONFIGS)
    assert authorizer.authorized_operations(ALICE, TOPIC, "orders") == expected
    assert authorizer.authorized_operations(ALICE, CLUSTER, CLUSTER_NAME) == 1 << Op.DESCRIBE
    assert authorizer.authorized_operations(BOB, TOPIC, "orders") == 0


async def test_allows_any_finds_a_permitting_resource_of_the_type(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(
        store, acl(name="t-", pattern=PREFIXED, operation=Op.WRITE), acl(name="t-", operation=Op.WRITE, permission=DENY)
    )
    assert authorizer.allows_any(ALICE, Op.WRITE, TOPIC)  # t-x is writable though t- itself is denied
    assert not authorizer.allows_any(BOB, Op.WRITE, TOPIC)
    assert not authorizer.allows_any(ALICE, Op.WRITE, TXN)
    await store.acls.add_acls([acl(name="t", pattern=PREFIXED, operation=Op.ALL, permission=DENY)])
    await authorizer.refresh()
    assert not authorizer.allows_any(ALICE, Op.WRITE, TOPIC)


async def test_denials_are_counted_by_operation_and_resource_type(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(store)
    for _ in range(3):
        authorizer.allows(ALICE, Op.WRITE, TOPIC, f"t{_}")
    authorizer.allows(ALICE, Op.READ, GROUP, "g")
    authorizer.allows(ALICE, Op.DESCRIBE, TOPIC, "listed", count=False)
    assert authorizer.denials == {("write", "topic"): 3, ("read", "group"): 1}


async def test_changes_through_another_store_apply_at_the_next_refresh(store: SqliteMetadataStore) -> None:
    authorizer = await authorizer_with(store)
    assert not authorizer.allows(ALICE, Op.READ, TOPIC, "orders")
    await store.acls.add_acls([acl()])
    await authorizer.refresh()
    assert authorizer.allows(ALICE, Op.READ, TOPIC, "orders")


def test_filters_match_as_kafkas() -> None:
    literal, prefixed, wildcard = acl(name="orders"), acl(name="ord", pattern=PREFIXED), acl(name="*")

    def matched(**fields: object) -> list[AclBinding]:
        values: dict[str, object] = {
            "resource_type": ResourceType.ANY,
            "resource_name": None,
            "pattern_type": PatternType.ANY,
            "principal": None,
            "host": None,
            "operation": Op.ANY,
            "permission_type": Permission.ANY,
        }
        acl_filter = AclFilter(**(values | fields))  # type: ignore[arg-type]
        return [b for b in (literal, prefixed, wildcard) if acl_filter.matches(b)]

    assert matched() == [literal, prefixed, wildcard]
    assert matched(resource_name="orders") == [literal]  # ANY: the exact name, any pattern type
    assert matched(resource_name="ord", pattern_type=PREFIXED) == [prefixed]
    assert matched(resource_name="orders", pattern_type=PatternType.MATCH) == [literal, prefixed, wildcard]
    assert matched(pattern_type=LITERAL) == [literal, wildcard]
    assert matched(resource_type=GROUP) == []
    assert matched(principal="User:bob") == []
    assert matched(operation=Op.READ, permission_type=ALLOW, host="*") == [literal, prefixed, wildcard]
    assert matched(operation=Op.WRITE) == []


@pytest.mark.parametrize(
    ("binding", "reason"),
    [
        (acl(resource_type=ResourceType.ANY), "invalid resource type"),
        (acl(pattern=PatternType.MATCH), "invalid pattern type"),
        (acl(operation=Op.ANY), "invalid operation"),
        (acl(permission=Permission.ANY), "invalid permission type"),
        (acl(name=""), "empty resource name"),
        (acl(resource_type=CLUSTER, name="mine"), "kafka-cluster"),
        (acl(principal="alice"), "invalid principal"),
    ],
)
def test_bindings_kafka_refuses_are_invalid(binding: AclBinding, reason: str) -> None:
    why = invalid_binding(binding)
    assert why is not None and reason in why


def test_a_good_binding_is_valid() -> None:
    assert invalid_binding(acl(resource_type=CLUSTER, name=CLUSTER_NAME, operation=Op.IDEMPOTENT_WRITE)) is None
