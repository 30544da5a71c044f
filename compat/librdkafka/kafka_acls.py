"""A stand-in for Kafka's kafka-acls.sh, for librdkafka's ACL tests (0109, 0115, 0119): the options
they pass (--add or --remove, --allow-principal or --deny-principal, --operation, --allow-host or
--deny-host, --topic or --group), sent as CreateAcls or DeleteAcls through confluent-kafka's admin client.
"""

from __future__ import annotations

import argparse
import sys

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

TIMEOUT_S = 30


def bindings(args: argparse.Namespace) -> list[AclBinding]:
    """One binding per principal, operation and resource, as kafka-acls.sh makes them."""
    resources = [(ResourceType.TOPIC, name) for name in args.topic] + [(ResourceType.GROUP, g) for g in args.group]
    grants = [(AclPermissionType.ALLOW, principal, args.allow_host) for principal in args.allow_principal]
    grants += [(AclPermissionType.DENY, principal, args.deny_host) for principal in args.deny_principal]
    return [
        AclBinding(kind, name, ResourcePatternType.LITERAL, principal, host, AclOperation[operation.upper()], allow)
        for kind, name in resources
        for allow, principal, host in grants
        for operation in args.operation
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="kafka-acls.sh", description=__doc__)
    parser.add_argument("--bootstrap-server", required=True)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--add", action="store_true")
    action.add_argument("--remove", action="store_true")
    parser.add_argument("--force", action="store_true", help="no confirmation (there is none to ask here)")
    parser.add_argument("--allow-principal", action="append", default=[])
    parser.add_argument("--deny-principal", action="append", default=[])
    parser.add_argument("--allow-host", default="*")
    parser.add_argument("--deny-host", default="*")
    parser.add_argument("--operation", action="append", default=[])
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--group", action="append", default=[])
    args = parser.parse_args()
    admin = AdminClient({"bootstrap.servers": args.bootstrap_server})
    wanted = bindings(args)
    if not wanted:
        parser.error("no ACL: give a principal, an operation and a resource")
    if args.add:
        for future in admin.create_acls(wanted, request_timeout=TIMEOUT_S).values():
            future.result()
    else:
        filters = [
            AclBindingFilter(
                b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type
            )
            for b in wanted
        ]
        for future in admin.delete_acls(filters, request_timeout=TIMEOUT_S).values():
            future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
