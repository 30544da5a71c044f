"""kafka-python's own integration tests (test/integration of its PyPI sdist, pinned) against StreamHouse.

The fixtures honour KAFKA_URI (an external broker) and KAFKA_VERSION (the version the tests assume).
Default: the node ids in tests.allow must all pass. --all runs every test and prints each outcome
(FINDINGS.md explains the ones not in tests.allow).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from compat.broker import running_broker

VERSION = "3.0.12"
# What the tests assume the broker is; their own defaults use 4.2.0.
KAFKA_VERSION = "4.2.0"
CACHE = Path(os.environ.get("STREAMHOUSE_CACHE", Path.home() / ".cache" / "streamhouse")) / f"kafka-python-{VERSION}"
SOURCE = CACHE / f"kafka_python-{VERSION}"
HERE = Path(__file__).parent
ALLOW = HERE / "tests.allow"
RUN_TIMEOUT_S = 1200
# test_create_describe_delete_acls needs an authorizer, and the anonymous client (the suite speaks
# PLAINTEXT) allowed to manage ACLs: a super user passes every other test's checks too.
AUTHORIZER_ARGS = ("--authorizer", "acl", "--super-users", "User:ANONYMOUS")


def unpack() -> Path:
    """The sdist's source tree, downloaded once; its test/ made importable (the sdist ships no test/__init__.py)."""
    if not (SOURCE / "test" / "service.py").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"kafka-python=={VERSION}", "-d", str(CACHE)],
            check=True,
        )  # fmt: skip
        with tarfile.open(CACHE / f"kafka_python-{VERSION}.tar.gz") as archive:
            archive.extractall(CACHE, filter="data")
        (SOURCE / "test" / "__init__.py").touch()
        shutil.copy(HERE / "service.py", SOURCE / "test" / "service.py")
    return SOURCE


def allowed_ids() -> list[str]:
    lines = (line.split("#")[0].strip() for line in ALLOW.read_text().splitlines())
    return [line for line in lines if line]


def outcomes(report: Path) -> dict[str, str]:
    """node id -> passed / failed / error / skipped, from pytest's JUnit XML."""
    results = {}
    for case in ET.parse(report).iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        path, _, klass = module.partition("/Test")
        node = f"{path}.py::" + (f"Test{klass}::" if klass else "") + case.get("name", "")
        children = {child.tag for child in case}
        state = next((tag for tag in ("failure", "error", "skipped") if tag in children), "passed")
        results[node] = {"failure": "failed"}.get(state, state)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.kafka_python", description=__doc__)
    parser.add_argument("--all", action="store_true", help="run every integration test, not only tests.allow")
    parser.add_argument("tests", nargs="*", help="node ids to run instead of tests.allow (as listed there)")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one (4 partitions, auto-create)")
    args = parser.parse_args()
    source = unpack()
    selection = ["test/integration"] if args.all else args.tests or allowed_ids()
    started = time.monotonic()
    with running_broker(args.bootstrap, AUTHORIZER_ARGS) as bootstrap, tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "KAFKA_URI": f"PLAINTEXT://{bootstrap}",
            "KAFKA_VERSION": KAFKA_VERSION,
            # The fixtures insist that a Kafka install folder exists even when they never start Kafka.
            "KAFKA_ROOT": scratch,
        }
        report = Path(scratch) / "report.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", *selection, "-q", "-p", "no:cacheprovider", "-p", "no:asyncio",
             "-o", "addopts=", "-o", "log_level=WARNING", "--timeout=120", "--assert=plain", "--tb=line",
             f"--junitxml={report}"],
            cwd=source, env=env, timeout=RUN_TIMEOUT_S, check=False,
        )  # fmt: skip
        results = outcomes(report)
    for node, state in sorted(results.items()):
        print(f"{state:8} {node}")
    passed = sorted(node for node, state in results.items() if state == "passed")
    print(f"kafka-python: {len(passed)} of {len(results)} tests passed in {time.monotonic() - started:.0f} s")
    regressions = sorted(set(args.tests or allowed_ids()) - set(passed))
    if regressions:
        print("allow-listed but not passing: " + " ".join(regressions))
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
