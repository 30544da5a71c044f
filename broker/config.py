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

ENV_PREFIX = "STREAMHOUSE_"


def option(default: Any, help: str, *, choices: Sequence[str] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class BrokerConfig:
    host: str = option("127.0.0.1", "address to listen on for Kafka clients")
    port: int = option(9092, "port for Kafka clients (0 picks a free one)")
    advertised_host: str | None = option(None, "host name given to clients in Metadata (default: --host)")
    data_dir: str = option("./streamhouse-data", "folder for the embedded default's objects and metadata")
    metadata: str | None = option(None, "metadata store URL (default: sqlite:///<data-dir>/metadata.db)")
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
    metrics_port: int = option(8080, "port for HTTP /health (0 picks a free one, -1 disables)")
    broker_id: int = option(0, "this broker's id, unique among brokers sharing a metadata store")
    num_partitions: int = option(1, "partitions of auto-created topics and of CreateTopics with -1")
    auto_create_topics: bool = option(True, "create unknown topics on Metadata and Produce requests")
    log_level: str = option("INFO", "logging level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    socket_request_max_bytes: int = option(
        100 * 1024 * 1024, "largest request frame accepted; larger ones close the connection"
    )
    message_max_bytes: int = option(1024 * 1024 + 12, "default max.message.bytes: the largest record batch accepted")
    flush_ms: int = option(2, "longest time a produced batch waits in the write buffer before a flush")
    flush_bytes: int = option(4 * 1024 * 1024, "write-buffer size that triggers a flush at once")
    flushes_in_flight: int = option(4, "flushes whose objects may be written at once (commits stay in order)")
    tail_cache_bytes: int = option(
        64 * 1024 * 1024, "memory for recently written batches, served to fetches without reads"
    )
    object_cache_bytes: int = option(128 * 1024 * 1024, "memory for an LRU cache of object ranges read for fetches")
    compaction_interval_ms: int = option(
        30_000, "how often flush objects are rewritten into segments and retention runs"
    )
    group_initial_rebalance_delay_ms: int = option(
        3000, "group.initial.rebalance.delay.ms: how long a new group waits for more members before its first rebalance"
    )
    group_min_session_timeout_ms: int = option(
        6000, "group.min.session.timeout.ms: joins asking for a shorter session get INVALID_SESSION_TIMEOUT"
    )

    @property
    def metadata_url(self) -> str:
        return self.metadata or f"sqlite://{Path(self.data_dir).resolve() / 'metadata.db'}"

    @property
    def storage_url(self) -> str:
        return self.storage or str(Path(self.data_dir).resolve() / "objects")

    @property
    def client_host(self) -> str:
        return self.advertised_host or self.host


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per BrokerConfig field, with its help, default and environment variable."""
    for spec in dataclasses.fields(BrokerConfig):
        env = ENV_PREFIX + spec.name.upper()
        help_text = f"{spec.metadata['help']} (env {env}; default {spec.default})"
        if spec.type == "bool":
            parser.add_argument(_flag(spec.name), type=_parse_bool, metavar="BOOL", help=help_text)
        else:
            convert = int if spec.type == "int" else str
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
        if spec.type == "int":
            return int(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise SystemExit(f"{ENV_PREFIX}{spec.name.upper()}: {exc}") from None
    choices = spec.metadata["choices"]
    if choices and text not in choices:
        raise SystemExit(f"{ENV_PREFIX}{spec.name.upper()}: {text!r} is not one of {', '.join(choices)}")
    return text
