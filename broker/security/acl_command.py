"""`streamhouse acls add|list|remove`: a broker's ACLs over the Kafka protocol, as kafka-acls.sh manages them.

The command connects to `--bootstrap-server` (over TLS and with SASL as `--command-config`, a
properties file as kafka-acls.sh takes, says: broker/security/client_config.py) and sends
CreateAcls, DescribeAcls or DeleteAcls; the broker's answer decides (CLUSTER_AUTHORIZATION_FAILED
unless the principal may ALTER, or for list DESCRIBE, the cluster; SECURITY_DISABLED when it runs
with `--authorizer none`).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamhouse.broker.client import BrokerConnection, ClientError
from streamhouse.broker.security.authorizer import (
    CLUSTER_NAME,
    WILDCARD,
    Operation,
    PatternType,
    Permission,
    ResourceType,
)
from streamhouse.broker.security.client_config import connect, read_client_config
from streamhouse.protocol.apis.create_acls import CREATE_ACLS
from streamhouse.protocol.apis.delete_acls import DELETE_ACLS
from streamhouse.protocol.apis.describe_acls import DESCRIBE_ACLS
from streamhouse.protocol.errors import ErrorCode, ProtocolError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
OPERATIONS = [op.name for op in Operation if op > Operation.ANY]
PATTERNS = {"literal": PatternType.LITERAL, "prefixed": PatternType.PREFIXED}
FILTER_PATTERNS = {**PATTERNS, "any": PatternType.ANY, "match": PatternType.MATCH}


def add_acls_parser(commands: Any) -> None:
    """The `acls` subcommand and its actions, on the `streamhouse` command's subparsers."""
    acls = commands.add_parser(
        "acls",
        help="add, list or remove ACLs",
        description="ACLs of a broker running --authorizer acl, over the Kafka protocol like kafka-acls.sh.",
    )
    actions = acls.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add ALLOW or DENY bindings")
    listing = actions.add_parser("list", help="the bindings matching a filter (all by default)")
    remove = actions.add_parser("remove", help="remove the bindings matching a filter")
    for action in (add, listing, remove):
        action.add_argument(
            "--bootstrap-server", default=DEFAULT_BOOTSTRAP, help=f"a broker's host:port ({DEFAULT_BOOTSTRAP})"
        )
        action.add_argument(
            "--command-config",
            type=Path,
            help="client properties for TLS and SASL: security.protocol, sasl.mechanism, sasl.username, "
            "sasl.password (or sasl.jaas.config), ssl.ca.location, ssl.certificate.location, ssl.key.location",
        )
        resource = action.add_mutually_exclusive_group(required=action is add)
        resource.add_argument("--topic", help="a topic name, or * for every topic")
        resource.add_argument("--group", help="a consumer group id, or *")
        resource.add_argument("--transactional-id", help="a transactional id, or *")
        resource.add_argument("--cluster", action="store_true", help="the cluster")
    for action in (add, remove):
        action.add_argument("--allow-principal", action="append", default=[], help="User:<name> or User:*")
        action.add_argument("--deny-principal", action="append", default=[], help="User:<name> or User:*")
        action.add_argument("--host", action="append", default=[], help="a client address the binding applies to (*)")
        action.add_argument(
            "--operation",
            action="append",
            default=[],
            type=str.upper,
            choices=OPERATIONS,
            help="repeat for several (add: ALL by default; remove: any)",
        )
    add.add_argument("--resource-pattern-type", choices=sorted(PATTERNS), default="literal")
    remove.add_argument("--resource-pattern-type", choices=sorted(FILTER_PATTERNS), default="literal")
    listing.add_argument("--resource-pattern-type", choices=sorted(FILTER_PATTERNS), default="any")
    listing.add_argument("--principal", help="only the bindings of this principal")


def _resource(args: argparse.Namespace) -> tuple[int, str | None]:
    """The resource type and name the flags give; ANY type and no name when none is given."""
    if args.topic is not None:
        return ResourceType.TOPIC, args.topic
    if args.group is not None:
        return ResourceType.GROUP, args.group
    if args.transactional_id is not None:
        return ResourceType.TRANSACTIONAL_ID, args.transactional_id
    if args.cluster:
        return ResourceType.CLUSTER, CLUSTER_NAME
    return ResourceType.ANY, None


def _grants(args: argparse.Namespace, default_operation: Operation) -> Iterator[tuple[str, str, int, int]]:
    """(principal, host, operation, permission) for every combination the flags name."""
    principals = [(p, Permission.ALLOW) for p in args.allow_principal] + [
        (p, Permission.DENY) for p in args.deny_principal
    ]
    operations = [Operation[name] for name in args.operation] or [default_operation]
    for (principal, permission), host, operation in itertools.product(principals, args.host or [WILDCARD], operations):
        yield principal, host, operation, permission


def acls_command(args: argparse.Namespace) -> int:
    try:
        with connect(args.bootstrap_server, read_client_config(args.command_config)) as connection:
            if args.action == "add":
                _add(connection, args)
            elif args.action == "list":
                print(_list(connection, args))
            else:
                print(_remove(connection, args))
    except (ClientError, ProtocolError, OSError) as exc:
        print(f"streamhouse acls: {exc}", file=sys.stderr)
        return 1
    return 0


def _add(connection: BrokerConnection, args: argparse.Namespace) -> None:
    resource_type, name = _resource(args)
    grants = list(_grants(args, Operation.ALL))
    if not grants:
        raise ClientError("give --allow-principal or --deny-principal")
    creation = CREATE_ACLS.Request.AclCreation
    body = CREATE_ACLS.Request(
        creations=[
            creation(
                resource_type=resource_type,
                resource_name=name,
                resource_pattern_type=PATTERNS[args.resource_pattern_type],
                principal=principal,
                host=host,
                operation=operation,
                permission_type=permission,
            )
            for principal, host, operation, permission in grants
        ]
    )
    _, response = connection.call(CREATE_ACLS, body)
    for result in response.results:
        _check(result.error_code, result.error_message)


def _list(connection: BrokerConnection, args: argparse.Namespace) -> str:
    resource_type, name = _resource(args)
    body = DESCRIBE_ACLS.Request(
        resource_type_filter=resource_type,
        resource_name_filter=name,
        pattern_type_filter=FILTER_PATTERNS[args.resource_pattern_type],
        principal_filter=args.principal,
        host_filter=None,
        operation=Operation.ANY,
        permission_type=Permission.ANY,
    )
    _, response = connection.call(DESCRIBE_ACLS, body)
    _check(response.error_code, response.error_message)
    return "\n".join(binding_line(r, a) for r in response.resources for a in r.acls)


def _remove(connection: BrokerConnection, args: argparse.Namespace) -> str:
    resource_type, name = _resource(args)
    pattern = FILTER_PATTERNS[args.resource_pattern_type]
    grants: list[tuple[str | None, str | None, int, int]] = list(_grants(args, Operation.ANY))
    if not grants:  # no principal named: every binding of the resource
        grants = [(None, None, Operation.ANY, Permission.ANY)]
    acl_filter = DELETE_ACLS.Request.DeleteAclsFilter
    body = DELETE_ACLS.Request(
        filters=[
            acl_filter(
                resource_type_filter=resource_type,
                resource_name_filter=name,
                pattern_type_filter=pattern,
                principal_filter=principal,
                host_filter=host,
                operation=operation,
                permission_type=permission,
            )
            for principal, host, operation, permission in grants
        ]
    )
    _, response = connection.call(DELETE_ACLS, body)
    lines = []
    for result in response.filter_results:
        _check(result.error_code, result.error_message)
        for a in result.matching_acls:
            lines.append("removed " + binding_line(a, a))
    return "\n".join(lines) or "no binding matched"


def binding_line(resource: Any, entry: Any) -> str:
    """One binding on one line (a resource pattern and an entry of DescribeAcls, or one matched
    binding of DeleteAcls as both): what kafka-acls.sh prints, flattened."""
    return (
        f"{_name(ResourceType, resource.resource_type)}:{resource.resource_name} "
        f"({_name(PatternType, resource.pattern_type)}) {entry.principal} from {entry.host}: "
        f"{_name(Permission, entry.permission_type)} {_name(Operation, entry.operation)}"
    )


def _name(enum: Any, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


def _check(error_code: int, message: str | None) -> None:
    if error_code:
        raise ClientError(f"{ErrorCode(error_code).name}{': ' + message if message else ''}")
