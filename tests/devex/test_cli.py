"""The `streamhouse` command as a user meets it: --version, one line and a non-zero exit for each
mistake (never a traceback), one default per flag in --help, and the README's flag table in step
with the parser."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from streamhouse import __version__
from streamhouse.broker.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def streamhouse(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_version_prints_the_installed_version() -> None:
    result = streamhouse("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"streamhouse {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--port", "99999"], "--port 99999: not a port; use 0-65535"),
        (["--port", "-5"], "--port -5: not a port; use 0-65535"),
        (["--metrics-port", "70000"], "--metrics-port 70000: not a port; use -1 (off) or 0-65535"),
        (["--metadata", "mysql://x@localhost/db"], "sqlite:///path/metadata.db"),
        (["--storage", "ftp://x/y"], "memory://, file:///absolute/path, s3://bucket/prefix"),
    ],
)
def test_a_bad_flag_is_one_line_and_a_non_zero_exit(tmp_path: Path, flags: list[str], expected: str) -> None:
    result = streamhouse("serve", "--data-dir", str(tmp_path / "data"), *flags)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("streamhouse serve: ")
    assert expected in result.stderr
    if "--metadata" in flags:  # the message names what is supported
        assert "postgresql://" in result.stderr


def test_the_port_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "serve", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={"STREAMHOUSE_PORT": "70000", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip() == "streamhouse serve: --port 70000: not a port; use 0-65535 (0 picks a free one)"


@pytest.mark.parametrize("where", ["under-a-file", "in-proc", "is-a-file"])
def test_an_unusable_data_dir_is_named(tmp_path: Path, where: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    data_dir = {"under-a-file": a_file / "data", "in-proc": Path("/proc/streamhouse-data"), "is-a-file": a_file}[where]
    result = streamhouse("serve", "--port", "0", "--metrics-port", "-1", "--data-dir", str(data_dir))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"streamhouse serve: --data-dir {data_dir}: ")
    assert re.search(r"cannot be created|cannot write in it|is not a folder", lines[0])


def test_a_data_dir_without_write_permission_is_named() -> None:
    # /proc exists and is a folder, but nothing can be created in it, not even by root.
    result = streamhouse("serve", "--port", "0", "--metrics-port", "-1", "--data-dir", "/proc")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("streamhouse serve: --data-dir /proc: cannot write in it")


def test_help_states_one_default_per_flag() -> None:
    text = streamhouse("serve", "--help").stdout
    entries = re.split(r"\n  (?=-)", text.split("options:", 1)[1])
    checked = 0
    for entry in entries:
        if not entry.startswith("--"):
            continue
        flat = " ".join(entry.split())
        if flat.startswith(("--help", "-h")):
            continue
        # "(default: ...)" in the help text, or "; default ..." that the parser adds: exactly one
        assert len(re.findall(r"default:|; default ", flat)) == 1, flat
        checked += 1
    assert checked == len(flags_of_serve())


def flags_of_serve() -> set[str]:
    subcommands = next(a for a in build_parser()._actions if a.dest == "command")
    serve = subcommands.choices["serve"]  # type: ignore[index]
    return {flag for action in serve._actions for flag in action.option_strings if flag.startswith("--")} - {"--help"}


def readme_flags() -> set[str]:
    """The flags of the README's Configuration table (its rows start with a flag)."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    flags: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `--"):
            first_cell = line.split("|")[1]
            flags.update(re.findall(r"`(--[a-z0-9-]+)`", first_cell))
    return flags


def test_the_readme_flag_table_lists_every_serve_flag_and_no_other() -> None:
    assert readme_flags() == flags_of_serve()


@pytest.mark.e2e
def test_groups_describe_of_an_unknown_group_fails(streamhouse_broker: object) -> None:
    bootstrap = streamhouse_broker.bootstrap_servers  # type: ignore[attr-defined]
    result = streamhouse("groups", "describe", "nosuchgroup", "--bootstrap", bootstrap)
    assert result.returncode == 1
    assert result.stderr.strip() == "streamhouse groups: group nosuchgroup does not exist"
