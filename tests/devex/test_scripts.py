"""scripts/: the test run goes on past a failed step and fails at the end; scripts/serve installs once
and then starts without pip; the apt installs bring no recommended packages and start no services."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_bash(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_every_step_runs_after_a_failure_and_the_end_fails() -> None:
    result = run_bash("source scripts/steps.sh; step one false; step two echo ran-two; step three false; finish")
    assert result.returncode == 1
    assert "ran-two" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "FAILED: one three"


def test_all_steps_passing_exit_0() -> None:
    result = run_bash("source scripts/steps.sh; step one true; step two true; finish; echo after")
    assert result.returncode == 0
    assert result.stdout.strip() == "after"


def test_scripts_test_runs_its_checks_pytest_and_compat_as_steps() -> None:
    text = (REPO / "scripts" / "test").read_text()
    for command in ("ruff check .", "mypy", 'python -m pytest "$@"', "python -m compat", "python -m compat.librdkafka"):
        assert re.search(rf"^step .*{re.escape(command)}$", text, re.MULTILINE), command
    assert text.rstrip().endswith("finish")


def test_apt_installs_without_recommends_and_without_starting_services() -> None:
    text = (REPO / "scripts" / "venv.sh").read_text()
    installs = re.findall(r"apt-get install[^\n]*", text)
    assert installs and all("--no-install-recommends" in line for line in installs)
    assert "exit 101" in text  # policy-rc.d: install scripts start no service
    assert "systemctl disable --now" in text


@pytest.mark.e2e
def test_serve_installs_once_then_starts_without_pip(tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no ./.venv: scripts/test (or scripts/serve) makes it")
    starts = []
    for _ in range(2):
        started = time.monotonic()
        process = subprocess.Popen(
            ["bash", "scripts/serve", "--port", "0", "--metrics-port", "-1", "--data-dir", str(tmp_path / "data")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"},
        )  # fmt: skip
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "listening on" in line:
                break
        starts.append((time.monotonic() - started, "".join(lines)))
        process.terminate()
        process.wait(30)
    print(f"scripts/serve to listening: first {starts[0][0]:.2f} s, second {starts[1][0]:.2f} s")
    assert "listening on" in starts[1][1]
    assert "installing StreamHouse" not in starts[1][1]  # the stamp matched: no pip
