"""The ACL authorizer: Kafka's rules over the bindings of the metadata store, cached on every broker.

`--authorizer none` (the default) allows everything and costs one attribute test per check.
`--authorizer acl` decides as Kafka's StandardAuthorizer: super users may do anything; otherwise a
DENY binding matching the principal (or "User:*"), the host (or "*") and the operation (or ALL)
refuses, and else an ALLOW binding that matches or implies the operation permits (READ, WRITE,
DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS). A binding applies to a
resource when it names it literally, is the literal wildcard "*", or is a prefix of its name
(PREFIXED). A resource no binding applies to at all is allowed to everyone only with
`--allow-everyone-if-no-acl-found`.

The bindings are cached: a task reads the store's ACL version every POLL_SECONDS and reloads the
bindings when it moved, so a change made through any broker applies on every broker within a second.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from streamhouse.broker.periodic import repeat
from streamhouse.metadata.base import AclBinding
from streamhouse.metadata.roles import AclStore
from streamhouse.protocol.errors import ErrorCode

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
CLUSTER_NAME = "kafka-cluster"  # the one name of the CLUSTER resource
WILDCARD = "*"  # a literal resource name, principal or host that matches every one
WILDCARD_PRINCIPAL = "User:*"
UNKNOWN_AUTHORIZED_OPERATIONS = -(2**31)  # Kafka's "not asked for" in the authorized-operations fields


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class Permission(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


# The operations an ALLOW binding of the key grants besides itself (Kafka's implied operations).
IMPLIED_BY: dict[Operation, frozenset[Operation]] = {
    Operation.DESCRIBE: frozenset({Operation.READ, Operation.WRITE, Operation.DELETE, Operation.ALTER}),
    Operation.DESCRIBE_CONFIGS: frozenset({Operation.ALTER_CONFIGS}),
}
# The operations each resource type has, whose allowed ones make its authorized-operations bitfield.
SUPPORTED_OPERATIONS: dict[ResourceType, tuple[Operation, ...]] = {
    ResourceType.TOPIC: (
        Operation.READ,
        Operation.WRITE,
        Operation.CREATE,
        Operation.DESCRIBE,
        Operation.DELETE,
        Operation.ALTER,
        Operation.DESCRIBE_CONFIGS,
        Operation.ALTER_CONFIGS,
    ),
    ResourceType.GROUP: (Operation.READ, Operation.DESCRIBE, Operation.DELETE),
    ResourceType.CLUSTER: (
        Operation.CREATE,
        Operation.CLUSTER_ACTION,
        Operation.DESCRIBE_CONFIGS,
        Operation.ALTER_CONFIGS,
        Operation.IDEMPOTENT_WRITE,
        Operation.ALTER,
        Operation.DESCRIBE,
    ),
    ResourceType.TRANSACTIONAL_ID: (Operation.DESCRIBE, Operation.WRITE),
}
_PRINCIPAL = re.compile(r"[^:]+:.+")


class Principal(Protocol):
    """Who asks and from where: a broker Connection, or anything with these two attributes."""

    principal: str
    peer_host: str


@dataclass(frozen=True)
class AclFilter:
    """Kafka's AclBindingFilter: None names and the ANY codes match everything."""

    resource_type: int
    resource_name: str | None
    pattern_type: int
    principal: str | None
    host: str | None
    operation: int
    permission_type: int

    def matches(self, binding: AclBinding) -> bool:
        if self.resource_type not in (ResourceType.ANY, binding.resource_type):
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH, binding.pattern_type):
            return False
        if self.resource_name is not None:
            if self.pattern_type in (PatternType.ANY, binding.pattern_type):
                if self.resource_name != binding.resource_name:
                    return False
            elif binding.pattern_type == PatternType.LITERAL:  # MATCH: the bindings that apply to the name
                if binding.resource_name not in (self.resource_name, WILDCARD):
                    return False
            elif not self.resource_name.startswith(binding.resource_name):
                return False
        return (
            self.principal in (None, binding.principal)
            and self.host in (None, binding.host)
            and self.operation in (Operation.ANY, binding.operation)
            and self.permission_type in (Permission.ANY, binding.permission_type)
        )

    def invalid(self) -> str | None:
        """Why Kafka would refuse this filter (INVALID_REQUEST), or None."""
        for name, value, enum in (
            ("resource type", self.resource_type, ResourceType),
            ("pattern type", self.pattern_type, PatternType),
            ("operation", self.operation, Operation),
            ("permission type", self.permission_type, Permission),
        ):
            if value not in enum.__members__.values() or value == 0:
                return f"unknown {name} {value}"
        return None


def invalid_binding(binding: AclBinding) -> str | None:
    """Why CreateAcls refuses this binding (INVALID_REQUEST), as Kafka's checks, or None."""
    if binding.resource_type not in SUPPORTED_OPERATIONS:
        return f"invalid resource type {binding.resource_type}"
    if binding.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return f"invalid pattern type {binding.pattern_type}"
    if binding.operation not in Operation.__members__.values() or binding.operation <= Operation.ANY:
        return f"invalid operation {binding.operation}"
    if binding.permission_type not in (Permission.ALLOW, Permission.DENY):
        return f"invalid permission type {binding.permission_type}"
    if not binding.resource_name:
        return "invalid empty resource name"
    if binding.resource_type == ResourceType.CLUSTER and binding.resource_name != CLUSTER_NAME:
        return f"the only valid name for the CLUSTER resource is {CLUSTER_NAME}"
    if not _PRINCIPAL.fullmatch(binding.principal):
        return f"invalid principal {binding.principal!r}: expected <type>:<name>"
    if not binding.host:
        return "invalid empty host"
    return None


class AclCache:
    """The bindings by resource: literal ones by (type, name), prefixed ones by type."""

    def __init__(self, bindings: Iterable[AclBinding]) -> None:
        self.bindings = sorted(bindings)
        self._literal: dict[tuple[int, str], list[AclBinding]] = {}
        self._prefixed: dict[int, list[AclBinding]] = {}
        for binding in self.bindings:
            if binding.pattern_type == PatternType.PREFIXED:
                self._prefixed.setdefault(binding.resource_type, []).append(binding)
            else:
                self._literal.setdefault((binding.resource_type, binding.resource_name), []).append(binding)

    def applying_to(self, resource_type: int, name: str) -> list[AclBinding]:
        """The bindings whose pattern covers this resource, whoever they are for."""
        found = [
            *self._literal.get((resource_type, name), ()),
            *(self._literal.get((resource_type, WILDCARD), ()) if name != WILDCARD else ()),
        ]
        found += [b for b in self._prefixed.get(resource_type, ()) if name.startswith(b.resource_name)]
        return found


class Authorizer:
    """Decides whether a principal may perform an operation on a resource; counts the refusals."""

    def __init__(
        self, store: AclStore, enabled: bool, super_users: Iterable[str] = (), allow_if_no_acl: bool = False
    ) -> None:
        self.store = store
        self.enabled = enabled
        self.super_users = frozenset(super_users)
        self.allow_if_no_acl = allow_if_no_acl
        self.cache = AclCache(())
        self.denials: dict[tuple[str, str], int] = {}  # (operation, resource type) -> refusals
        self._version: int | None = None
        self._refreshing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.enabled:
            await self.refresh()
            self._task = asyncio.create_task(repeat(POLL_SECONDS, self.refresh, "ACL refresh"), name="acl-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def refresh(self) -> None:
        """Reload the bindings if the store's version moved since the last load."""
        # One at a time: a poll's older read must not replace what a CreateAcls's refresh just loaded.
        async with self._refreshing:
            version = await self.store.acls_version()
            if version != self._version:
                self.cache = AclCache(await self.store.list_acls())
                self._version = version

    def allows(
        self, who: Principal, operation: Operation, resource_type: ResourceType, name: str, count: bool = True
    ) -> bool:
        """Whether `who` may; a refusal is counted for /metrics unless `count` is False (a filtered listing)."""
        if not self.enabled or self._decide(who.principal, who.peer_host, operation, resource_type, name):
            return True
        if count:
            key = (operation.name.lower(), resource_type.name.lower())
            self.denials[key] = self.denials.get(key, 0) + 1
        return False

    def allows_cluster(self, who: Principal, operation: Operation, count: bool = True) -> bool:
        return self.allows(who, operation, ResourceType.CLUSTER, CLUSTER_NAME, count)

    # One call per handler check: the error code Kafka answers, NONE when allowed.
    def topic_error(self, who: Principal, operation: Operation, topic: str) -> ErrorCode:
        allowed = self.allows(who, operation, ResourceType.TOPIC, topic)
        return ErrorCode.NONE if allowed else ErrorCode.TOPIC_AUTHORIZATION_FAILED

    def group_error(self, who: Principal, operation: Operation, group_id: str) -> ErrorCode:
        allowed = self.allows(who, operation, ResourceType.GROUP, group_id)
        return ErrorCode.NONE if allowed else ErrorCode.GROUP_AUTHORIZATION_FAILED

    def cluster_error(self, who: Principal, operation: Operation) -> ErrorCode:
        allowed = self.allows(who, operation, ResourceType.CLUSTER, CLUSTER_NAME)
        return ErrorCode.NONE if allowed else ErrorCode.CLUSTER_AUTHORIZATION_FAILED

    def transactional_id_error(self, who: Principal, operation: Operation, transactional_id: str) -> ErrorCode:
        allowed = self.allows(who, operation, ResourceType.TRANSACTIONAL_ID, transactional_id)
        return ErrorCode.NONE if allowed else ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED

    def may_create_topic(self, who: Principal, topic: str) -> bool:
        """CREATE on the cluster or on the topic: what creating a topic (auto or CreateTopics) needs."""
        return self.allows(who, Operation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME, count=False) or self.allows(
            who, Operation.CREATE, ResourceType.TOPIC, topic
        )

    def may_describe(self, who: Principal, resource_type: ResourceType, name: str) -> bool:
        """DESCRIBE, uncounted: for listings that leave out what the principal may not see."""
        return self.allows(who, Operation.DESCRIBE, resource_type, name, count=False)

    def operations_field(self, who: Principal, asked: bool, resource_type: ResourceType, name: str) -> int:
        """An authorized-operations field: Kafka's "not asked" unless asked; else 0 to whom may not even
        DESCRIBE the resource, the bitfield to others."""
        if not asked:
            return UNKNOWN_AUTHORIZED_OPERATIONS
        bits = self.authorized_operations(who, resource_type, name)
        return bits if bits & (1 << Operation.DESCRIBE) else 0

    def allows_any(self, who: Principal, operation: Operation, resource_type: ResourceType) -> bool:
        """Whether some resource of the type permits the operation (Kafka's authorizeByResourceType):
        an ALLOW binding for the principal and host that no DENY binding covers (a DENY of the
        literal "*", of a prefix of its name, or of its very literal name)."""
        if not self.enabled or who.principal in self.super_users:
            return True
        mine = [
            b
            for b in self.cache.bindings
            if b.resource_type == resource_type
            and self._applies(b, who.principal, who.peer_host, operation, implied=b.permission_type == Permission.ALLOW)
        ]
        denies = [b for b in mine if b.permission_type == Permission.DENY]
        for allow in mine:
            if allow.permission_type == Permission.ALLOW and not any(_covers(deny, allow) for deny in denies):
                return True
        return self.allow_if_no_acl and not any(b.resource_type == resource_type for b in self.cache.bindings)

    def authorized_operations(self, who: Principal, resource_type: ResourceType, name: str) -> int:
        """Kafka's bitfield of the operations `who` may perform on the resource (bit n: operation code n)."""
        bits = 0
        for operation in SUPPORTED_OPERATIONS[resource_type]:
            if not self.enabled or self._decide(who.principal, who.peer_host, operation, resource_type, name):
                bits |= 1 << operation
        return bits

    def _decide(self, principal: str, host: str, operation: Operation, resource_type: int, name: str) -> bool:
        if principal in self.super_users:
            return True
        bindings = self.cache.applying_to(resource_type, name)
        if not bindings:
            return self.allow_if_no_acl
        allowed = False
        for binding in bindings:
            if binding.permission_type == Permission.DENY:
                if self._applies(binding, principal, host, operation, implied=False):
                    return False
            elif not allowed:
                allowed = self._applies(binding, principal, host, operation, implied=True)
        return allowed

    @staticmethod
    def _applies(binding: AclBinding, principal: str, host: str, operation: Operation, implied: bool) -> bool:
        if binding.principal not in (principal, WILDCARD_PRINCIPAL) or binding.host not in (host, WILDCARD):
            return False
        if binding.operation in (operation, Operation.ALL):
            return True
        return implied and binding.operation in IMPLIED_BY.get(operation, ())


def _covers(deny: AclBinding, allow: AclBinding) -> bool:
    """Whether a DENY binding refuses everything an ALLOW binding of the same resource type grants."""
    if deny.pattern_type == PatternType.LITERAL:
        return deny.resource_name == WILDCARD or (
            allow.pattern_type == PatternType.LITERAL and deny.resource_name == allow.resource_name
        )
    return allow.resource_name.startswith(deny.resource_name)


def matching(bindings: Sequence[AclBinding], acl_filter: AclFilter) -> list[AclBinding]:
    return [binding for binding in bindings if acl_filter.matches(binding)]
