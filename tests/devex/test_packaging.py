"""The distribution as pip builds it: one top-level package, `streamhouse`, with its compiled record
walk, its migrations, py.typed and the licence; the console script and the pytest plugin declared."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.devex.test_plugin import OUTSIDE_TEST

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from the checkout."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(folder)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (built,) = folder.glob("streamhouse_broker-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
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


@pytest.mark.slow
@pytest.mark.e2e
def test_the_installed_wheel_serves_an_outside_project(wheel: Path, tmp_path: Path) -> None:
    """The wheel's files, not the checkout's: installed into a folder that comes first on the path
    (its dependencies are this environment's), then plain pytest in a folder holding one test file."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_with_streamhouse.py").write_text(
        OUTSIDE_TEST + "\n\ndef test_the_wheel_is_what_runs():\n"
        "    import streamhouse, streamhouse.protocol._recordscan as walk\n"
        f"    assert streamhouse.__file__.startswith({str(site)!r}) and walk.__file__.startswith({str(site)!r})\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_the_licence_is_the_apache_2_text() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_compiled_walk_is_importable_under_the_package() -> None:
    from streamhouse.protocol import _recordscan

    assert _recordscan.__name__ == "streamhouse.protocol._recordscan"
