"""librdkafka's own broker tests against StreamHouse, one process per test id.

The source is the librdkafka shipped inside the npm package @confluentinc/kafka-javascript (pinned below);
it is built once (without SSL, SASL, zstd or curl) under ~/.cache/streamhouse. Default: the ids in
tests.allow must all pass. --all runs every broker test id and prints each result (FINDINGS.md explains
the ones not in tests.allow).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from compat.broker import running_broker

PACKAGE = "@confluentinc/kafka-javascript@1.10.1"  # ships librdkafka 2.15.1 with its tests/
CACHE = Path(os.environ.get("STREAMHOUSE_CACHE", Path.home() / ".cache" / "streamhouse")) / "librdkafka-1.10.1"
SOURCE = CACHE / "package" / "deps" / "librdkafka"
RUNNER = SOURCE / "tests" / "test-runner"
HERE = Path(__file__).parent
ALLOW = HERE / "tests.allow"
# The newest Kafka version whose APIs StreamHouse serves well enough for the tests that check it.
TEST_KAFKA_VERSION = "3.1.0"
TEST_TIMEOUT_S = 300
_RESULT = re.compile(r"^\|\S*\s*(\w+)\s*\|\s*(PASSED|FAILED|SKIPPED|RUNNING|NOT STARTED)\s*\|", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def build() -> Path:
    """The test-runner binary, built once from the pinned npm tarball."""
    if RUNNER.exists():
        return RUNNER
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(CACHE)], check=True, cwd=CACHE)
    [tarball] = CACHE.glob("confluentinc-kafka-javascript-*.tgz")
    with tarfile.open(tarball) as archive:
        archive.extractall(CACHE, filter="data")
    if not (SOURCE / "tests" / "test.c").exists():
        raise SystemExit(f"{PACKAGE} has no deps/librdkafka/tests: cannot build the test suite")
    options = ["--disable-ssl", "--disable-gssapi", "--disable-zstd", "--disable-curl", "--disable-debug-symbols"]
    subprocess.run(["./configure", *options], check=True, cwd=SOURCE, stdout=subprocess.DEVNULL)
    jobs = f"-j{os.cpu_count() or 2}"
    subprocess.run(["make", jobs, "libs"], check=True, cwd=SOURCE, stdout=subprocess.DEVNULL)
    subprocess.run(["make", jobs, "-C", "tests", "test-runner"], check=True, cwd=SOURCE, stdout=subprocess.DEVNULL)
    return RUNNER


def broker_test_ids() -> list[str]:
    """Every test id of tests/test.c that needs a broker (the local, broker-less ones are skipped by -L)."""
    source = (SOURCE / "tests" / "test.c").read_text()
    table = source[source.index("struct test tests[] = {") :]
    return [name for name, flags in re.findall(r"_TEST\((\w+),\s*([^,)]*)", table) if "TEST_F_LOCAL" not in flags]


def allowed_ids() -> list[str]:
    lines = (line.split("#")[0].strip() for line in ALLOW.read_text().splitlines())
    return [line for line in lines if line]


def run_test(test_id: str, config: Path) -> tuple[str, str, float]:
    """Runs one id in its own test-runner process; returns (id, state, seconds)."""
    libraries = f"{SOURCE / 'src'}:{SOURCE / 'src-cpp'}"
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": libraries,
        "TESTS": test_id,
        "RDKAFKA_TEST_CONF": str(config),
        "TEST_KAFKA_VERSION": TEST_KAFKA_VERSION,
    }
    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(RUNNER), "-L", "-E", "-Q"], env=env, cwd=RUNNER.parent, capture_output=True, text=True,
            timeout=TEST_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return test_id, "TIMEOUT", time.monotonic() - started
    states = dict(_RESULT.findall(_ANSI.sub("", done.stdout + done.stderr)))
    state = states.get(test_id, "NO RESULT")
    if state == "PASSED" and done.returncode != 0:
        state = f"EXIT {done.returncode}"
    return test_id, state, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.librdkafka", description=__doc__)
    parser.add_argument("--all", action="store_true", help="run every broker test id, not only tests.allow")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one (4 partitions, auto-create)")
    parser.add_argument("--jobs", type=int, default=2, help="test processes at once (default 2)")
    parser.add_argument("ids", nargs="*", help="only these test ids")
    args = parser.parse_args()
    build()
    ids = args.ids or (broker_test_ids() if args.all else allowed_ids())
    started = time.monotonic()
    with running_broker(args.bootstrap) as bootstrap, tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "test.conf"
        # A loaded 2-core machine: stretch the tests' own timeouts; random topic names keep reruns apart.
        config.write_text(f"metadata.broker.list={bootstrap}\ntest.timeout.multiplier=3\ntest.topic.random=true\n")
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda test_id: run_test(test_id, config), ids))
    for test_id, state, seconds in results:
        print(f"{test_id:45} {state:10} {seconds:6.1f}s")
    passed = [test_id for test_id, state, _ in results if state == "PASSED"]
    print(f"librdkafka: {len(passed)} of {len(ids)} test ids passed in {time.monotonic() - started:.0f} s")
    expected = set(allowed_ids())
    regressions = sorted(test_id for test_id, state, _ in results if test_id in expected and state != "PASSED")
    if regressions:
        print("allow-listed but not passing: " + " ".join(regressions))
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
