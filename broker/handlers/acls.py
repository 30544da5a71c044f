"""DescribeAcls, CreateAcls and DeleteAcls v1-3: the ACL bindings of the metadata store, as Kafka serves them.

DescribeAcls answers the bindings matching one filter (resource type, name, pattern type, principal,
host, operation, permission; null names and ANY codes match everything; pattern type MATCH gives the
bindings that apply to the named resource: its literal ones, the literal "*" and the prefixes of its
name), grouped by resource pattern. CreateAcls stores each binding (one stored already is kept);
DeleteAcls removes, per filter, the bindings it matches and returns them. Every broker's authorizer
sees a change within a second; the broker that made it, before it answers.

Errors: SECURITY_DISABLED (54) for all three with `--authorizer none` (as Kafka without an
authorizer); CLUSTER_AUTHORIZATION_FAILED (31) unless the principal may DESCRIBE the cluster
(DescribeAcls) or ALTER it (CreateAcls, DeleteAcls); INVALID_REQUEST (42) for a filter with an
unknown code, or a binding Kafka refuses: a resource type other than topic, group, cluster or
transactional id, a pattern type other than literal or prefixed, the ANY operation or permission, an
empty name, a cluster not named kafka-cluster, a principal not of the form <type>:<name>;
KAFKA_STORAGE_ERROR (56) when the metadata store is unreachable.
"""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import AclFilter, Operation, invalid_binding, matching
from streamhouse.metadata.base import AclBinding, MetadataUnavailableError
from streamhouse.protocol.apis.create_acls import CREATE_ACLS
from streamhouse.protocol.apis.delete_acls import DELETE_ACLS
from streamhouse.protocol.apis.describe_acls import DESCRIBE_ACLS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.create_acls import AclCreationResult, CreateAclsRequest, CreateAclsResponse
from streamhouse.protocol.messages.delete_acls import (
    DeleteAclsFilter,
    DeleteAclsFilterResult,
    DeleteAclsMatchingAcl,
    DeleteAclsRequest,
    DeleteAclsResponse,
)
from streamhouse.protocol.messages.describe_acls import (
    AclDescription,
    DescribeAclsRequest,
    DescribeAclsResource,
    DescribeAclsResponse,
)

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request

DISABLED = "no authorizer is configured on the broker (--authorizer none)"


def _filter_of(request: DescribeAclsRequest | DeleteAclsFilter) -> AclFilter:
    return AclFilter(
        request.resource_type_filter,
        request.resource_name_filter,
        request.pattern_type_filter,
        request.principal_filter,
        request.host_filter,
        request.operation,
        request.permission_type,
    )


async def handle_describe_acls(
    broker: Broker, request: Request[DescribeAclsRequest], connection: Connection
) -> DescribeAclsResponse:
    authorizer = broker.authorizer
    if not authorizer.enabled:
        return DescribeAclsResponse(error_code=ErrorCode.SECURITY_DISABLED, error_message=DISABLED)
    if not authorizer.allows_cluster(connection, Operation.DESCRIBE):
        return DescribeAclsResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    acl_filter = _filter_of(request.body)
    invalid = acl_filter.invalid()
    if invalid is not None:
        return DescribeAclsResponse(error_code=ErrorCode.INVALID_REQUEST, error_message=invalid)
    try:
        found = matching(await authorizer.store.list_acls(), acl_filter)  # sorted: a pattern's bindings adjacent
    except MetadataUnavailableError as exc:
        return DescribeAclsResponse(error_code=ErrorCode.KAFKA_STORAGE_ERROR, error_message=str(exc))
    resources = [
        DescribeAclsResource(
            resource_type=resource_type,
            resource_name=name,
            pattern_type=pattern_type,
            acls=[
                AclDescription(
                    principal=b.principal, host=b.host, operation=b.operation, permission_type=b.permission_type
                )
                for b in bindings
            ],
        )
        for (resource_type, name, pattern_type), bindings in groupby(
            found, key=lambda b: (b.resource_type, b.resource_name, b.pattern_type)
        )
    ]
    return DescribeAclsResponse(error_code=ErrorCode.NONE, resources=resources)


async def handle_create_acls(
    broker: Broker, request: Request[CreateAclsRequest], connection: Connection
) -> CreateAclsResponse:
    authorizer = broker.authorizer
    creations = request.body.creations

    def every(error: ErrorCode, message: str | None = None) -> CreateAclsResponse:
        return CreateAclsResponse(
            results=[AclCreationResult(error_code=error, error_message=message) for _ in creations]
        )

    if not authorizer.enabled:
        return every(ErrorCode.SECURITY_DISABLED, DISABLED)
    if not authorizer.allows_cluster(connection, Operation.ALTER):
        return every(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    bindings = [
        AclBinding(
            c.resource_type,
            c.resource_name,
            c.resource_pattern_type,
            c.principal,
            c.host,
            c.operation,
            c.permission_type,
        )
        for c in creations
    ]
    invalid = [invalid_binding(binding) for binding in bindings]
    try:
        await authorizer.store.add_acls([b for b, why in zip(bindings, invalid, strict=True) if why is None])
        await authorizer.refresh()
    except MetadataUnavailableError as exc:
        return every(ErrorCode.KAFKA_STORAGE_ERROR, str(exc))
    return CreateAclsResponse(
        results=[
            AclCreationResult(
                error_code=ErrorCode.NONE if why is None else ErrorCode.INVALID_REQUEST, error_message=why
            )
            for why in invalid
        ]
    )


async def handle_delete_acls(
    broker: Broker, request: Request[DeleteAclsRequest], connection: Connection
) -> DeleteAclsResponse:
    authorizer = broker.authorizer
    filters = request.body.filters

    def every(error: ErrorCode, message: str | None = None) -> DeleteAclsResponse:
        return DeleteAclsResponse(
            filter_results=[DeleteAclsFilterResult(error_code=error, error_message=message) for _ in filters]
        )

    if not authorizer.enabled:
        return every(ErrorCode.SECURITY_DISABLED, DISABLED)
    if not authorizer.allows_cluster(connection, Operation.ALTER):
        return every(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    try:
        stored = await authorizer.store.list_acls()  # the store's, not the cache's: deletes see every add
        results = []
        doomed: set[AclBinding] = set()
        for wanted in filters:
            acl_filter = _filter_of(wanted)
            invalid = acl_filter.invalid()
            if invalid is not None:
                results.append(DeleteAclsFilterResult(error_code=ErrorCode.INVALID_REQUEST, error_message=invalid))
                continue
            found = matching(stored, acl_filter)
            doomed.update(found)
            results.append(
                DeleteAclsFilterResult(error_code=ErrorCode.NONE, matching_acls=[_deleted(b) for b in found])
            )
        await authorizer.store.delete_acls(sorted(doomed))
        await authorizer.refresh()
    except MetadataUnavailableError as exc:
        return every(ErrorCode.KAFKA_STORAGE_ERROR, str(exc))
    return DeleteAclsResponse(filter_results=results)


def _deleted(binding: AclBinding) -> DeleteAclsMatchingAcl:
    return DeleteAclsMatchingAcl(
        error_code=ErrorCode.NONE,
        resource_type=binding.resource_type,
        resource_name=binding.resource_name,
        pattern_type=binding.pattern_type,
        principal=binding.principal,
        host=binding.host,
        operation=binding.operation,
        permission_type=binding.permission_type,
    )


HANDLES = {
    DESCRIBE_ACLS.key: handle_describe_acls,
    CREATE_ACLS.key: handle_create_acls,
    DELETE_ACLS.key: handle_delete_acls,
}
