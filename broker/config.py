"""Broker configuration: one dataclass, filled from flags and STREAMHOUSE_* environment variables.

Each option is declared once (name, type, default, help); argparse flags and environment
variables are both derived from that declaration. Flags win over the environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamhouse.broker.cluster import HEARTBEATS_TO_EXPIRY
from streamhouse.storage.commit import COMMIT_STRATEGIES, ON_METADATA_THREAD, PUT_THEN_COMMIT, commit_strategy_for
from streamhouse.storage.maintenance import ORPHAN_MIN_AGE_MS

ENV_PREFIX = "STREAMHOUSE_"
AUTHORIZERS = ("none", "acl")
_INT_TYPES = ("int", "int | None")


def option(default: Any, help: str, *, choices: Sequence[str] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class WriteTuning:
    """How the write buffer turns produced batches into objects."""

    flush_ms: int
    flush_bytes: int
    flushes_in_flight: int


# A local folder answers a put in a millisecond or two: flush at once (a wait would add itself to
# every append at low rates). The batches that arrive while the flush is busy make the next one, so
# objects grow with the load, up to 2 MiB each: smaller objects mean more commits, larger ones a longer
# wait on each object's write and sync. One flush at a time: each flush costs CPU (a thread hand-over
# each way, a commit) that more flushes in flight take from the event loop; with two, the second one's
# object is written while the first commits (storage.commit.PutOnCommitThread), which did not lower
# produce latency on a loaded 2-vCPU machine (docs/performance.md).
FILESYSTEM_WRITES = WriteTuning(flush_ms=0, flush_bytes=2 * 1024 * 1024, flushes_in_flight=1)
# An S3 PUT takes tens of milliseconds and each one is billed: gather longer into larger objects, and
# keep more PUTs in flight so that throughput is not one PUT latency per flush. A longer wait cuts PUTs
# further but caps a producer's throughput (docs/performance.md).
S3_WRITES = WriteTuning(flush_ms=25, flush_bytes=8 * 1024 * 1024, flushes_in_flight=16)


@dataclass(frozen=True)
class BrokerConfig:
    host: str = option("127.0.0.1", "address to listen on for Kafka clients")
    port: int = option(9092, "port for Kafka clients (0 picks a free one)")
    advertised_host: str | None = option(None, "host name given to clients in Metadata (default: --host)")
    listeners: str | None = option(
        None,
        "comma list of NAME://host:port to serve Kafka clients on, e.g. PLAINTEXT://127.0.0.1:9092,"
        "SASL_SSL://0.0.0.0:9093 (default: PLAINTEXT://<host>:<port>; port 0 picks a free one)",
    )
    listener_security_protocol_map: str | None = option(
        None,
        "comma list of NAME:PROTOCOL giving each listener name its security protocol (PLAINTEXT, SSL, "
        "SASL_PLAINTEXT, SASL_SSL); a name that is a protocol maps to itself",
    )
    advertised_listeners: str | None = option(
        None, "comma list of NAME://host:port given to clients in Metadata, per listener (default: the bound address)"
    )
    ssl_certfile: str | None = option(None, "PEM certificate (chain) of the SSL and SASL_SSL listeners")
    ssl_keyfile: str | None = option(None, "PEM private key of --ssl-certfile")
    ssl_key_password: str | None = option(None, "password of an encrypted --ssl-keyfile")
    ssl_cafile: str | None = option(None, "PEM CA certificates that client certificates are checked against")
    ssl_client_auth: str = option(
        "none",
        "client certificates on TLS listeners: none, requested (checked when given) or required (mTLS); "
        "a client's principal is User:<its certificate's subject>",
        choices=("none", "requested", "required"),
    )
    ssl_handshake_timeout_ms: int = option(10_000, "how long a TLS handshake may take before the connection closes")
    data_dir: str = option("./streamhouse-data", "folder for the embedded default's objects and metadata")
    metadata: str | None = option(None, "metadata store URL (default: sqlite:///<data-dir>/metadata.db)")
    metadata_pool_size: int = option(
        10, "most pooled connections to a postgresql:// metadata store, besides one for LISTEN (unused by SQLite)"
    )
    storage: str | None = option(
        None,
        "object store URL: a folder path, file:///path, memory:// or s3://bucket/prefix (default: <data-dir>/objects)",
    )
    s3_endpoint: str | None = option(
        None,
        "S3-compatible endpoint URL for s3:// storage, e.g. http://minio:9000 (path-style addressing; default: AWS). "
        "Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
    )
    s3_region: str = option("us-east-1", "S3 region for s3:// storage")
    fsync: str = option(
        "always",
        "fsync objects before acknowledging: always, or never (OS page cache only)",
        choices=("always", "never"),
    )
    metrics_host: str | None = option(None, "address the HTTP port listens on (default: --host)")
    metrics_port: int = option(8080, "port for HTTP /metrics, /health and /ready (0 picks a free one, -1 disables)")
    metrics: bool = option(True, "collect Prometheus metrics (false: /metrics answers 404, nothing is counted)")
    console: bool = option(True, "serve the web console at / on the HTTP port (false: / answers 404)")
    console_read_only: bool = option(False, "the console shows but refuses its forms (produce, reset offsets)")
    broker_id: int = option(0, "this broker's id, unique among brokers sharing a metadata store")
    broker_heartbeat_ms: int = option(
        2000,
        "how often this broker refreshes its heartbeat in the metadata store and re-reads the live brokers; "
        "a broker silent for 3 intervals drops out of the others' Metadata",
    )
    num_partitions: int = option(1, "partitions of auto-created topics and of CreateTopics with -1")
    auto_create_topics: bool = option(True, "create unknown topics on Metadata and Produce requests")
    log_level: str = option("INFO", "logging level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    socket_request_max_bytes: int = option(
        100 * 1024 * 1024, "largest request frame accepted; larger ones close the connection"
    )
    queued_max_requests: int = option(
        500,
        "queued.max.requests: requests in flight over all connections at which a connection with one in flight "
        "starts no more (and is not read)",
    )
    queued_max_request_bytes: int = option(
        256 * 1024 * 1024,
        "queued.max.request.bytes: bytes of the requests in flight over all connections at which no request "
        "starts and no connection is read (-1: no bound; a single larger request still runs)",
    )
    max_connections: int = option(10_000, "max.connections: open Kafka connections; a further one is closed at once")
    max_connections_per_ip: int = option(
        2_147_483_647, "max.connections.per.ip: open Kafka connections from one address; a further one is closed"
    )
    connections_max_idle_ms: int = option(
        600_000, "connections.max.idle.ms: a connection that neither sends nor receives for this long is closed"
    )
    message_max_bytes: int = option(1024 * 1024 + 12, "default max.message.bytes: the largest record batch accepted")
    max_uncompressed_batch_bytes: int = option(
        128 * 1024 * 1024,
        "largest a produced record batch may decompress to; past it decompression stops and the batch is "
        "refused with CORRUPT_MESSAGE (a bound on decompression bombs, far above what clients send)",
    )
    flush_ms: int | None = option(
        None,
        "longest time a produced batch waits in the write buffer before a flush "
        f"(unset: {FILESYSTEM_WRITES.flush_ms}, or {S3_WRITES.flush_ms} with s3:// storage)",
    )
    flush_bytes: int | None = option(
        None,
        "write-buffer size that triggers a flush at once, and the most one object holds (a larger batch goes alone) "
        f"(unset: {FILESYSTEM_WRITES.flush_bytes}, or {S3_WRITES.flush_bytes} with s3:// storage)",
    )
    flushes_in_flight: int | None = option(
        None,
        "flushes whose objects may be written at once, commits still in order "
        f"(unset: {FILESYSTEM_WRITES.flushes_in_flight}, or {S3_WRITES.flushes_in_flight} with s3:// storage)",
    )
    commit_strategy: str | None = option(
        None,
        f"how a flush's object is stored and committed: {PUT_THEN_COMMIT} (the object store's put, then the "
        f"metadata commit; puts overlap and their commits are grouped) or {ON_METADATA_THREAD} (each object "
        "written on the metadata store's own thread right before its commit: a folder and SQLite only) "
        f"(unset: {ON_METADATA_THREAD} with a folder, SQLite and one or two flushes in flight, else {PUT_THEN_COMMIT})",
        choices=COMMIT_STRATEGIES,
    )
    tail_cache_bytes: int = option(
        64 * 1024 * 1024, "memory for recently written batches, served to fetches without reads"
    )
    object_cache_bytes: int = option(128 * 1024 * 1024, "memory for an LRU cache of object ranges read for fetches")
    read_ahead_bytes: int = option(
        8 * 1024 * 1024,
        "per partition read by consecutive fetches: how much of what follows is loaded into the caches ahead (0: off)",
    )
    cache_dir: str | None = option(
        None, "folder for an on-disk cache of object ranges between memory and the object store (default: none)"
    )
    cache_dir_bytes: int = option(1024 * 1024 * 1024, "size bound of the --cache-dir folder")
    compaction_interval_ms: int = option(
        30_000, "how often flush objects are rewritten into segments and retention runs"
    )
    log_cleaner_interval_ms: int = option(
        15_000, "log.cleaner.backoff.ms: how often compacted partitions are checked and cleaned by key"
    )
    log_cleaner_io_max_bytes_per_second: int = option(
        0, "log.cleaner.io.max.bytes.per.second: the cleaner's reads and writes together, at most (0: unbounded)"
    )
    orphan_object_min_age_ms: int = option(
        ORPHAN_MIN_AGE_MS,
        "age after which a flush object the metadata store does not know (its commit failed) is deleted",
    )
    group_initial_rebalance_delay_ms: int = option(
        3000, "group.initial.rebalance.delay.ms: how long a new group waits for more members before its first rebalance"
    )
    group_min_session_timeout_ms: int = option(
        6000, "group.min.session.timeout.ms: joins asking for a shorter session get INVALID_SESSION_TIMEOUT"
    )
    group_consumer_session_timeout_ms: int = option(
        45_000, "group.consumer.session.timeout.ms: a consumer-protocol member silent this long is removed"
    )
    group_consumer_heartbeat_interval_ms: int = option(
        5000, "group.consumer.heartbeat.interval.ms: how often consumer-protocol members are told to heartbeat"
    )
    group_consumer_assignors: str = option(
        "uniform,range",
        "group.consumer.assignors: server-side assignors consumer-protocol members may name, comma-separated "
        "from uniform, range; the first is the default",
    )
    group_share_session_timeout_ms: int = option(
        45_000, "group.share.session.timeout.ms: a share group member silent this long is removed"
    )
    group_share_heartbeat_interval_ms: int = option(
        5000, "group.share.heartbeat.interval.ms: how often share group members are told to heartbeat"
    )
    group_share_record_lock_duration_ms: int = option(
        30_000, "group.share.record.lock.duration.ms: how long a share consumer holds a record it was given"
    )
    group_share_delivery_count_limit: int = option(
        5, "group.share.delivery.count.limit: deliveries of a record before a release archives it"
    )
    transaction_max_timeout_ms: int = option(
        900_000, "transaction.max.timeout.ms: InitProducerId asking for a longer one gets INVALID_TRANSACTION_TIMEOUT"
    )
    transactional_id_expiration_ms: int = option(
        604_800_000,
        "transactional.id.expiration.ms: a transactional id without a transaction for this long is forgotten",
    )
    client_telemetry_push_interval_ms: int = option(
        0,
        "KIP-714: how often clients are asked to push their metrics (0: they are subscribed to none); pushes are "
        "counted on /metrics and their content dropped",
    )
    transaction_expiry_interval_ms: int = option(
        10_000,
        "transaction.abort.timed.out.transaction.cleanup.interval.ms: how often timed-out transactions are aborted",
    )
    sasl_mechanisms: str = option(
        "",
        "SASL mechanisms clients of SASL_PLAINTEXT and SASL_SSL listeners authenticate with, comma-separated, from "
        "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER. Users: `streamhouse users add` or AlterUserScramCredentials",
    )
    connections_max_reauth_ms: int = option(
        0,
        "connections.max.reauth.ms: a SASL session's lifetime; clients re-authenticate before it ends, "
        "and a request on an expired session closes the connection (0: sessions never expire)",
    )
    connection_failed_authentication_delay_ms: int = option(
        100, "connection.failed.authentication.delay.ms: how long a failed authentication waits before its answer"
    )
    sasl_oauthbearer_jwks: str | None = option(
        None,
        "JWKS file or http(s) URL whose keys sign OAUTHBEARER tokens (unset: Kafka's unsecured tokens, "
        "for local development only)",
    )
    sasl_oauthbearer_issuer: str | None = option(None, "the iss claim signed OAUTHBEARER tokens must carry")
    sasl_oauthbearer_audience: str | None = option(None, "the aud claim signed OAUTHBEARER tokens must carry")
    authorizer: str = option(
        "none",
        "none (every client may do anything) or acl (the ACLs of the metadata store decide)",
        choices=AUTHORIZERS,
    )
    super_users: str = option("", "principals the ACL authorizer allows everything, comma-separated: User:admin,...")
    allow_everyone_if_no_acl_found: bool = option(
        False, "with --authorizer acl, allow everyone what no ACL of the resource mentions"
    )
    workers: int = option(
        1,
        "broker processes sharing the listener; only 1: for more cores run several brokers, each with its own "
        "--broker-id and port, on one PostgreSQL (docs/performance.md says why not on SQLite)",
    )

    @property
    def metadata_url(self) -> str:
        return self.metadata or f"sqlite://{Path(self.data_dir).resolve() / 'metadata.db'}"

    @property
    def storage_url(self) -> str:
        return self.storage or str(Path(self.data_dir).resolve() / "objects")

    @property
    def broker_expiry_ms(self) -> int:
        return self.broker_heartbeat_ms * HEARTBEATS_TO_EXPIRY

    @property
    def super_user_principals(self) -> list[str]:
        return [name.strip() for name in self.super_users.replace(";", ",").split(",") if name.strip()]

    @property
    def client_host(self) -> str:
        return self.advertised_host or self.host

    @property
    def write_tuning(self) -> WriteTuning:
        """flush.ms, flush.bytes and flushes in flight: as set, else the defaults of the storage in use."""
        defaults = S3_WRITES if self.storage_url.lower().startswith("s3://") else FILESYSTEM_WRITES
        return WriteTuning(
            flush_ms=defaults.flush_ms if self.flush_ms is None else self.flush_ms,
            flush_bytes=defaults.flush_bytes if self.flush_bytes is None else self.flush_bytes,
            flushes_in_flight=defaults.flushes_in_flight if self.flushes_in_flight is None else self.flushes_in_flight,
        )

    def workers_problem(self) -> str | None:
        """Why --workers cannot be served as set, None if it can."""
        if self.workers == 1:
            return None
        return (
            f"--workers {self.workers}: one process per broker; on SQLite worker processes would share one write "
            "lock (a commit waiting on another process's sleeps in SQLite's busy handler, up to seconds) and its "
            "change feed is in-process only: for more cores run several brokers on one PostgreSQL, each with its "
            "own --broker-id and port"
        )

    @property
    def commit_strategy_in_use(self) -> str:
        """--commit-strategy as set (ValueError if the stores cannot run it), else the one that suits them."""
        return commit_strategy_for(
            self.commit_strategy, self.storage_url, self.metadata_url, self.write_tuning.flushes_in_flight
        )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _shown(default: Any) -> str:
    return "none" if default is None else str(default).lower() if isinstance(default, bool) else str(default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per BrokerConfig field, with its help, default and environment variable."""
    for spec in dataclasses.fields(BrokerConfig):
        env = ENV_PREFIX + spec.name.upper()
        # One default per flag: a help text that explains its default keeps it, the others show the value.
        stated = "default:" in spec.metadata["help"]
        help_text = f"{spec.metadata['help']} (env {env}{'' if stated else f'; default {_shown(spec.default)}'})"
        if spec.type == "bool":
            parser.add_argument(_flag(spec.name), type=_parse_bool, metavar="BOOL", help=help_text)
        else:
            convert = int if spec.type in _INT_TYPES else str
            parser.add_argument(_flag(spec.name), type=convert, choices=spec.metadata["choices"], help=help_text)


def config_from(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> BrokerConfig:
    """Flags first, then STREAMHOUSE_<NAME> variables, then defaults."""
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(BrokerConfig):
        flag_value = getattr(args, spec.name, None)
        env_value = environ.get(ENV_PREFIX + spec.name.upper())
        if flag_value is not None:
            values[spec.name] = flag_value
        elif env_value is not None:
            values[spec.name] = _convert_env(spec, env_value)
    return BrokerConfig(**values)


def _convert_env(spec: dataclasses.Field[Any], text: str) -> Any:
    try:
        if spec.type == "bool":
            return _parse_bool(text)
        if spec.type in _INT_TYPES:
            return int(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise SystemExit(f"{ENV_PREFIX}{spec.name.upper()}: {exc}") from None
    choices = spec.metadata["choices"]
    if choices and text not in choices:
        raise SystemExit(f"{ENV_PREFIX}{spec.name.upper()}: {text!r} is not one of {', '.join(choices)}")
    return text
