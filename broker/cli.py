"""The `streamhouse` command: `serve` runs a broker, `migrate` updates a metadata store's schema,
`groups` shows consumer groups, `topics` manages topics, `users` manages SCRAM users, `acls` manages ACLs,
`bench` benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from streamhouse.broker.allocator import keep_freed_memory
from streamhouse.broker.app import Broker, BrokerIdInUseError
from streamhouse.broker.client import ClientError, GroupView, describe_group, list_groups
from streamhouse.broker.config import BrokerConfig, add_arguments, config_from
from streamhouse.broker.config_checks import config_problem
from streamhouse.broker.security.acl_command import acls_command, add_acls_parser
from streamhouse.broker.security.scram import (
    DEFAULT_ITERATIONS,
    HASHES,
    MAX_ITERATIONS,
    MIN_ITERATIONS,
    SCRAM_SHA_256,
    ScramError,
)
from streamhouse.broker.security.users import add_user, users_of
from streamhouse.broker.share.client import describe_share_group, share_describe_text
from streamhouse.broker.topics_command import add_topics_parser, topics_command
from streamhouse.metadata import open_metadata_store
from streamhouse.metadata.base import MetadataError
from streamhouse.protocol.errors import ProtocolError

log = logging.getLogger("streamhouse")

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEAD = "Dead"  # DescribeGroups' state of a group the coordinator does not know


def version() -> str:
    """The installed distribution's version."""
    from streamhouse import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamhouse", description="A Kafka-wire-compatible broker.")
    parser.add_argument("--version", action="version", version=f"streamhouse {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run a broker",
        description="Run a broker. With no flags: 127.0.0.1:9092, objects and SQLite metadata in ./streamhouse-data.",
    )
    add_arguments(serve)
    migrate = commands.add_parser(
        "migrate",
        help="apply a metadata store's pending schema migrations and exit",
        description="Apply the pending schema migrations of a metadata store (brokers also do at start-up).",
    )
    migrate.add_argument(
        "--metadata",
        required=True,
        help="metadata store URL: sqlite:///path/metadata.db or postgresql://user:password@host:port/database",
    )
    groups = commands.add_parser(
        "groups",
        help="list consumer and share groups, or describe one with its lag",
        description="Consumer groups, read from a broker over the Kafka protocol like any admin client.",
    )
    actions = groups.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every group with its protocol type and state")
    describe = actions.add_parser(
        "describe", help="a group's members and assignments, committed offsets, high watermarks and lag"
    )
    describe.add_argument("group", help="the group id")
    for action in (listing, describe):
        action.add_argument(
            "--bootstrap", default=DEFAULT_BOOTSTRAP, help=f"a broker's host:port ({DEFAULT_BOOTSTRAP})"
        )
    add_topics_parser(commands, DEFAULT_BOOTSTRAP)
    add_users_parser(commands)
    add_acls_parser(commands)
    commands.add_parser(
        "bench",
        help="benchmarks: StreamHouse side by side with Tansu (run from a source checkout)",
        description="Runs `python -m benchmarks.bench` in the source checkout; `--help` there lists its options.",
        add_help=False,
    )
    return parser


def add_users_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser(
        "users",
        help="add, list and delete SCRAM users in a metadata store (no broker needed)",
        description="SCRAM credentials, written straight to the metadata store: every broker sees a change within "
        "a second. Brokers also serve them over the Kafka protocol (AlterUserScramCredentials).",
    )
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user, or replace its credential for the mechanism")
    add.add_argument("name", help="the user name")
    add.add_argument("--password", required=True, help="the password (only its salted, hashed form is stored)")
    add.add_argument("--mechanism", default=SCRAM_SHA_256, choices=sorted(HASHES), help="the SCRAM mechanism")
    add.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"PBKDF2 iterations, {MIN_ITERATIONS} to {MAX_ITERATIONS} ({DEFAULT_ITERATIONS})",
    )
    delete = actions.add_parser("delete", help="delete a user's credentials (one mechanism with --mechanism)")
    delete.add_argument("name", help="the user name")
    delete.add_argument("--mechanism", choices=sorted(HASHES), help="only this mechanism's credential")
    listing = actions.add_parser("list", help="every user with its mechanisms and iteration counts")
    for action in (add, delete, listing):
        where = action.add_mutually_exclusive_group()
        where.add_argument("--data-dir", help="a broker's data folder: its sqlite metadata.db (./streamhouse-data)")
        where.add_argument("--metadata", help="metadata store URL: sqlite:///path/metadata.db or postgresql://...")


async def users_action(args: argparse.Namespace) -> str:
    """Do the `users` action on the store; what to print."""
    url = args.metadata or BrokerConfig(data_dir=args.data_dir or BrokerConfig.data_dir).metadata_url
    store = open_metadata_store(url, pool_size=1)
    await store.start()
    try:
        if args.action == "add":
            await add_user(store.users, args.name, args.password, args.mechanism, args.iterations)
            return f"user {args.name}: {args.mechanism} credential stored ({args.iterations} iterations)"
        if args.action == "delete":
            if not await store.users.delete_credentials(args.name, args.mechanism):
                raise ScramError(
                    f"no credentials for user {args.name}" + (f" with {args.mechanism}" if args.mechanism else "")
                )
            return f"user {args.name}: deleted"
        rows = [
            (user, ", ".join(f"{c.mechanism} ({c.iterations})" for c in credentials))
            for user, credentials in users_of(await store.users.list_credentials()).items()
        ]
        return table(("USER", "MECHANISMS (ITERATIONS)"), rows)
    finally:
        await store.close()


def users_command(args: argparse.Namespace) -> int:
    try:
        print(asyncio.run(users_action(args)))
    except (MetadataError, ScramError, ValueError) as exc:
        print(f"streamhouse users: {exc}", file=sys.stderr)
        return 1
    return 0


def bench_command(arguments: Sequence[str]) -> int:
    """The benchmark tool lives beside the packages in the source tree (it uses the test servers)."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "benchmarks" / "bench.py").is_file():
        print("streamhouse bench: needs a source checkout (benchmarks/ beside broker/)", file=sys.stderr)
        return 1
    return subprocess.run([sys.executable, "-m", "benchmarks.bench", *arguments], cwd=checkout).returncode


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart; None shows as "-"."""
    cells = [list(headers)] + [["-" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def describe_text(view: GroupView) -> str:
    protocol = f", protocol {view.protocol}" if view.protocol else ""
    kind = f"{view.protocol_type}, " if view.protocol_type else ""
    lines = [f"Group {view.group_id} ({kind}{view.state}{protocol}), {len(view.members)} members", ""]
    if view.members:
        members = [
            (
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                ",".join(f"{t}-{p}" for t, p in m.partitions),
            )
            for m in view.members
        ]
        lines += [table(("MEMBER", "INSTANCE", "CLIENT-ID", "HOST", "PARTITIONS"), members), ""]
    partitions = [(p.topic, p.partition, p.committed, p.high_watermark, p.lag, p.member_id) for p in view.partitions]
    lines.append(table(("TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "MEMBER"), partitions))
    return "\n".join(lines)


def groups_command(args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            found = list_groups(args.bootstrap)
            print(table(("GROUP", "PROTOCOL-TYPE", "STATE"), [(g.group_id, g.protocol_type, g.state) for g in found]))
        elif (shared := describe_share_group(args.bootstrap, args.group)) is not None:
            print(share_describe_text(shared, table))
        else:
            view = describe_group(args.bootstrap, args.group)
            if view.state == DEAD and not view.members and not view.partitions:
                print(f"streamhouse groups: group {args.group} does not exist", file=sys.stderr)
                return 1
            print(describe_text(view))
    except (ClientError, ProtocolError) as exc:
        print(f"streamhouse groups: {exc}", file=sys.stderr)
        return 1
    return 0


async def apply_migrations(url: str) -> list[int]:
    """Open the store (which applies what is pending) and close it; the versions applied."""
    store = open_metadata_store(url, pool_size=1)
    await store.start()
    try:
        return store.applied_migrations
    finally:
        await store.close()


def migrate_command(args: argparse.Namespace) -> int:
    try:
        applied = asyncio.run(apply_migrations(args.metadata))
    except (MetadataError, ValueError) as exc:
        print(f"streamhouse migrate: {exc}", file=sys.stderr)
        return 1
    if applied:
        print(f"applied migrations {', '.join(f'{version:04d}' for version in applied)}")
    else:
        print("no pending migrations: the schema is up to date")
    return 0


# How long a thread holds the GIL while another wants it (Python's default: 5 ms). The object-put and
# SQLite threads need it for a moment between their system calls; with the event loop busy, each such
# moment would wait a whole interval, several times per flush (docs/performance.md).
SWITCH_INTERVAL_S = 0.0001


async def serve(config: BrokerConfig) -> None:
    if problem := config.workers_problem():
        raise SystemExit(f"streamhouse serve: {problem}")
    try:
        broker = Broker(config)
    except ValueError as exc:  # a store URL, or a commit strategy these stores cannot run
        raise SystemExit(f"streamhouse serve: {exc}") from None
    try:
        await broker.start()
    # OSError: a port in use or not ours to bind; MetadataError: a metadata store that cannot be used
    except (BrokerIdInUseError, OSError, MetadataError) as exc:
        raise SystemExit(f"streamhouse serve: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if broker.tls is not None:  # without TLS, SIGHUP keeps its default: it stops the process
        loop.add_signal_handler(signal.SIGHUP, broker.reload_certificates)
    if config.storage_url.lower().startswith("s3://"):
        from streamhouse.storage.objects.s3 import S3ObjectStore  # aiobotocore: imported only when S3 is used

        if isinstance(broker.objects, S3ObjectStore):
            await broker.objects.open()
    # What start-up built (modules, compiled codecs, caches, the S3 client) lives as long as the
    # process: out of the collector's sight, so that full collections walk only what serving allocates.
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    http = f", HTTP on {broker.http.host}:{broker.http.port}" if config.metrics_port >= 0 else ""
    for listener, bound in zip(broker.listeners, broker.bound_listeners, strict=True) if config.listeners else ():
        print(f"listener {bound} ({listener.security_protocol}) advertised as {broker.advertised(listener)}")
    # Tests and scripts wait for this line, which names the first listener's address: keep its shape.
    first = broker.bound_listeners[0]
    print(f"StreamHouse broker {config.broker_id} listening on {first.host}:{first.port}{http}", flush=True)
    await stop.wait()
    log.info("shutting down")
    await broker.stop()
    log.info("stopped")


def run(coroutine_config: BrokerConfig) -> None:
    keep_freed_memory()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(coroutine_config))
    else:
        uvloop.run(serve(coroutine_config))


def main(argv: Sequence[str] | None = None) -> None:
    args, rest = build_parser().parse_known_args(argv)
    if args.command == "bench":
        sys.exit(bench_command(rest))
    if rest:
        build_parser().error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "groups":
        sys.exit(groups_command(args))
    if args.command == "migrate":
        sys.exit(migrate_command(args))
    if args.command == "users":
        sys.exit(users_command(args))
    if args.command == "acls":
        sys.exit(acls_command(args))
    if args.command == "topics":
        sys.exit(topics_command(args))
    config = config_from(args)
    problem = config_problem(config)
    if problem:
        print(f"streamhouse serve: {problem}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    run(config)


if __name__ == "__main__":
    main()
