"""The distribution as pip builds it: one top-level package, `streamhouse`, with its compiled record
walk, its migrations, py.typed and the licence; the console script and the pytest plugin declared."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("streamhouse_broker-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
    assert {name.split("/")[0] for name in names} == {"streamhouse", info}
    for part in ("broker", "protocol", "storage", "metadata", "tracing"):
        assert f"streamhouse/{part}/__init__.py" in names
    assert "streamhouse/py.typed" in names
    assert any(name.startswith("streamhouse/protocol/_recordscan.") and name.endswith(".so") for name in names)
    assert "streamhouse/metadata/migrations/schema/0001_initial.sql" in names
    assert f"{info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "Name: streamhouse-broker" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "streamhouse = streamhouse.broker.cli:main" in entry_points
    assert "[pytest11]" in entry_points and "streamhouse = streamhouse.pytest_plugin" in entry_points


def test_the_licence_is_the_apache_2_text() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_compiled_walk_is_importable_under_the_package() -> None:
    from streamhouse.protocol import _recordscan

    assert _recordscan.__name__ == "streamhouse.protocol._recordscan"
