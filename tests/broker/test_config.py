"""`streamhouse serve` options: flags, STREAMHOUSE_* environment variables, defaults, help."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from streamhouse.broker.cli import build_parser
from streamhouse.broker.config import FILESYSTEM_WRITES, S3_WRITES, BrokerConfig, WriteTuning, config_from
from streamhouse.storage.commit import ON_METADATA_THREAD, PUT_THEN_COMMIT


def parse(argv: list[str], environ: dict[str, str]) -> BrokerConfig:
    return config_from(build_parser().parse_args(["serve", *argv]), environ)


def test_defaults_are_the_embedded_default() -> None:
    config = parse([], {})
    assert (config.host, config.port, config.metrics_port, config.num_partitions) == ("127.0.0.1", 9092, 8080, 1)
    assert config.auto_create_topics is True
    assert config.metadata_url.startswith("sqlite:///") and config.metadata_url.endswith("streamhouse-data/metadata.db")
    assert config.storage_url.endswith("streamhouse-data/objects")
    assert config.client_host == "127.0.0.1"


def test_environment_sets_options_and_flags_win() -> None:
    environ = {"STREAMHOUSE_PORT": "19092", "STREAMHOUSE_AUTO_CREATE_TOPICS": "false", "STREAMHOUSE_HOST": "0.0.0.0"}
    config = parse(["--host", "127.0.0.2", "--advertised-host", "kafka.local"], environ)
    assert config.port == 19092
    assert config.auto_create_topics is False
    assert config.host == "127.0.0.2"
    assert config.client_host == "kafka.local"


@pytest.mark.parametrize(
    ("name", "value"),
    [("STREAMHOUSE_PORT", "ninety"), ("STREAMHOUSE_AUTO_CREATE_TOPICS", "maybe"), ("STREAMHOUSE_FSYNC", "sometimes")],
)
def test_bad_environment_values_stop_with_a_message(name: str, value: str) -> None:
    with pytest.raises(SystemExit, match=name):
        parse([], {name: value})


def test_help_names_every_option_and_its_environment_variable() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for spec in dataclasses.fields(BrokerConfig):
        assert "--" + spec.name.replace("_", "-") in text
        assert "STREAMHOUSE_" + spec.name.upper() in " ".join(text.split())


def test_write_tuning_follows_the_storage_unless_set() -> None:
    assert parse([], {}).write_tuning == FILESYSTEM_WRITES
    assert parse(["--storage", "s3://bucket/prefix"], {}).write_tuning == S3_WRITES
    assert S3_WRITES != FILESYSTEM_WRITES
    # Each explicit setting wins, flag or environment; the others keep the storage's default.
    explicit = parse(
        ["--storage", "s3://bucket", "--flush-ms", "7"], {"STREAMHOUSE_FLUSHES_IN_FLIGHT": "3"}
    ).write_tuning
    assert explicit == WriteTuning(flush_ms=7, flush_bytes=S3_WRITES.flush_bytes, flushes_in_flight=3)
    on_disk = parse(["--flush-bytes", "1000", "--storage", "/tmp/objects"], {}).write_tuning
    assert on_disk == WriteTuning(FILESYSTEM_WRITES.flush_ms, 1000, FILESYSTEM_WRITES.flushes_in_flight)
    # A value equal to the other storage's default is still explicit.
    assert parse(["--storage", "s3://b", "--flush-ms", str(FILESYSTEM_WRITES.flush_ms)], {}).write_tuning.flush_ms == 0


def test_the_commit_strategy_follows_the_stores_unless_set(tmp_path: Path) -> None:
    embedded = parse(["--data-dir", str(tmp_path)], {})
    assert embedded.commit_strategy_in_use == ON_METADATA_THREAD
    assert parse(["--data-dir", str(tmp_path), "--storage", "memory://"], {}).commit_strategy_in_use == PUT_THEN_COMMIT
    chosen = parse(["--data-dir", str(tmp_path)], {"STREAMHOUSE_COMMIT_STRATEGY": PUT_THEN_COMMIT})
    assert chosen.commit_strategy_in_use == PUT_THEN_COMMIT


def test_a_commit_strategy_the_stores_cannot_run_stops_serve_with_one_line(tmp_path: Path) -> None:
    serve = [sys.executable, "-m", "streamhouse.broker.cli", "serve", "--port", "0", "--metrics-port", "0"]
    flags = ["--data-dir", str(tmp_path), "--storage", "memory://", "--commit-strategy", ON_METADATA_THREAD]
    result = subprocess.run([*serve, *flags], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"streamhouse serve: commit strategy {ON_METADATA_THREAD} needs a folder object store and SQLite metadata"
    ]


def test_the_authorizer_options() -> None:
    default = parse([], {})
    assert (default.authorizer, default.super_user_principals, default.allow_everyone_if_no_acl_found) == (
        "none",
        [],
        False,
    )
    environ = {"STREAMHOUSE_AUTHORIZER": "acl", "STREAMHOUSE_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "true"}
    config = parse(["--super-users", "User:admin, User:ops;User:cron"], environ)
    assert (config.authorizer, config.allow_everyone_if_no_acl_found) == ("acl", True)
    assert config.super_user_principals == ["User:admin", "User:ops", "User:cron"]
    with pytest.raises(SystemExit, match="STREAMHOUSE_AUTHORIZER"):
        parse([], {"STREAMHOUSE_AUTHORIZER": "kerberos"})


@pytest.mark.e2e
def test_serve_with_more_than_one_worker_exits_with_one_line_saying_why(tmp_path: Path) -> None:
    assert parse([], {}).workers_problem() is None
    assert parse(["--workers", "1"], {}).workers_problem() is None
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamhouse.broker.cli",
            "serve",
            "--workers",
            "2",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"STREAMHOUSE_METRICS_PORT": "-1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("streamhouse serve: --workers 2: ") and "PostgreSQL" in line and "SQLite" in line
    assert not (tmp_path / "metadata.db").exists()  # refused before opening any store
