"""librdkafka's own broker tests against StreamHouse, one process per test id.

The source is the librdkafka shipped inside the npm package @confluentinc/kafka-javascript (pinned below);
it is built once (with OpenSSL and Cyrus SASL, for the SSL and SASL tests, and RapidJSON, which the
statistics tests need; without zstd or curl) under ~/.cache/streamhouse. The SSL, SASL and ACL tests run
against brokers of their own, set up as librdkafka's trivup clusters are (compat/librdkafka/security.py),
with certificates made here. Each id runs as
`test-runner -L -E -Q` (no local tests, no sockem, quick mode) in a process of its own. Quick mode skips
every sub-test not marked quick, so some ids "pass" without one request: those count as EMPTY, and
--all runs them again in full mode (without -Q). Default: the ids in tests.allow (with their mode, and
for an id whose whole does not pass, the sub-tests named) must all pass. --all runs every broker test id
and prints each result (FINDINGS.md explains the others).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from compat.broker import running_broker
from compat.librdkafka.security import SECURED_IDS, setup
from tests.sessionserver import free_port
from tests.tlsfiles import make_tls_files

PACKAGE = "@confluentinc/kafka-javascript@1.10.1"  # ships librdkafka 2.15.1 with its tests/
# The folder names the build's variant too: a build made before RapidJSON (Debian rapidjson-dev), OpenSSL
# (libssl-dev) and Cyrus SASL (libsasl2-dev) were required must not be reused.
CACHE_ROOT = Path(os.environ.get("STREAMHOUSE_CACHE", Path.home() / ".cache" / "streamhouse"))
CACHE = CACHE_ROOT / "librdkafka-1.10.1-rapidjson-ssl-sasl"
SOURCE = CACHE / "package" / "deps" / "librdkafka"
RUNNER = SOURCE / "tests" / "test-runner"
HERE = Path(__file__).parent
ALLOW = HERE / "tests.allow"
# --group-protocol consumer: the suite's KIP-848 mode (TEST_CONSUMER_GROUP_PROTOCOL), its own allow-list, and
# the Kafka version from which librdkafka's tests expect the consumer protocol.
CONSUMER_ALLOW = HERE / "tests.consumer.allow"
CONSUMER_KAFKA_VERSION = "4.0.0"
# The newest Kafka version whose APIs StreamHouse serves well enough for the tests that check it.
TEST_KAFKA_VERSION = "3.1.0"
TEST_TIMEOUT_S = 300
# librdkafka's test clusters (trivup's server.properties) keep Kafka's group.initial.rebalance.delay.ms of
# 3 s, and its group tests count on it: consumers subscribing together land in one first generation.
# Without the delay the first one to join forms a generation alone and has its partitions revoked when
# the others join, a rebalance those tests do not expect (0089, 0102 and 0118 failed on it).
INITIAL_REBALANCE_DELAY_MS = 3000
# A test's main function that returns faster than this made no request to the broker.
EMPTY_RUN_MS = 1.0
# A row of the runner's summary table: | <id> | <state> | <seconds>s | <why it failed or was skipped>
_RESULT = re.compile(
    r"^\|[ \t]*(\w+)[ \t]*\|[ \t]*(PASSED|FAILED|SKIPPED|RUNNING|NOT STARTED)[ \t]*\|[^|\n]*\|[ \t]*(.*)$", re.MULTILINE
)
# A failing test aborts the process before the summary; the line after its failure banner says why.
_FAILURE = re.compile(r"^### Test .* failed at .*###\n(.*)$", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# What the build must have, the Debian package that brings it, and the tests that skip themselves without it.
REQUIRED_FEATURES = (
    ("WITH_RAPIDJSON", "rapidjson-dev", "0053_stats and 0110_batch_size need it"),
    ("WITH_SSL", "libssl-dev", "the SSL and SCRAM tests need it"),
    ("WITH_SASL_CYRUS", "libsasl2-dev", "the SASL tests' builds expect Cyrus SASL"),
)


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
    options = ["--disable-zstd", "--disable-curl", "--disable-debug-symbols"]
    subprocess.run(["./configure", *options], check=True, cwd=SOURCE, stdout=subprocess.DEVNULL)
    configured = (SOURCE / "Makefile.config").read_text()
    for feature, package, why in REQUIRED_FEATURES:
        if not re.search(rf"^{feature}=\s*y$", configured, re.MULTILINE):
            raise SystemExit(f"configure found no {feature}: install the Debian package {package} ({why})")
    jobs = f"-j{os.cpu_count() or 2}"
    subprocess.run(["make", jobs, "libs"], check=True, cwd=SOURCE, stdout=subprocess.DEVNULL)
    subprocess.run(["make", jobs, "-C", "tests", "test-runner"], check=True, cwd=SOURCE, stdout=subprocess.DEVNULL)
    return RUNNER


def test_entries() -> dict[str, str]:
    """Test id -> the text of its entry in the tests[] table of tests/test.c (flags, versions, scenario)."""
    source = (SOURCE / "tests" / "test.c").read_text()
    table = source[source.index("struct test tests[] = {") : source.index("{NULL}")]
    return {entry.split(",")[0].strip(): entry for entry in table.split("_TEST(")[1:]}


def broker_test_ids() -> list[str]:
    """Every test id that needs a broker: not the local (broker-less) ones, which -L skips, nor the
    manual ones, which the runner leaves out unless asked for by name."""
    entries = test_entries()
    return [name for name, entry in entries.items() if "TEST_F_LOCAL" not in entry and "TEST_F_MANUAL" not in entry]


def scenario_of(entry: str) -> str | None:
    """The broker set-up a test asks for, e.g. "noautocreate" (a broker that does not auto-create topics)."""
    found = re.search(r'\.scenario\s*=\s*"(\w+)"', entry)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Allowed:
    mode: str  # "quick" (-Q) unless the line says "full"
    subtests: str | None  # "subtests=<text>": only the sub-tests whose names contain it (SUBTESTS)
    kafka_version: str | None = None  # "kafka=<version>": its TEST_KAFKA_VERSION (the share consumer ids: 4.2.0)


def allowed(allow: Path = ALLOW) -> dict[str, Allowed]:
    """tests.allow (or another allow-list): test id -> how it runs."""
    entries = {}
    for line in allow.read_text().splitlines():
        words = line.split("#")[0].split()
        if words:
            options = dict(word.split("=", 1) for word in words[1:] if "=" in word)
            mode = "full" if "full" in words[1:] else "quick"
            entries[words[0]] = Allowed(mode, options.get("subtests"), options.get("kafka"))
    return entries


@dataclass(frozen=True)
class Result:
    test_id: str
    state: str  # PASSED, FAILED, SKIPPED, EMPTY, TIMEOUT, NO RESULT, EXIT <code>
    mode: str
    seconds: float
    reason: str


@dataclass(frozen=True)
class RunConfig:
    """What a test process gets: its test.conf, and environment variables (the secured set-ups' SSL_*);
    and where its output goes, if anywhere."""

    path: Path
    env: dict[str, str]
    logs: Path | None


def run_test(
    test_id: str, config: RunConfig, kafka_version: str, scenario: str | None, mode: str, subtests: str | None = None
) -> Result:
    """Runs one id in its own test-runner process, in quick (-Q) or full mode; only the sub-tests whose names
    contain `subtests`, when given."""
    libraries = f"{SOURCE / 'src'}:{SOURCE / 'src-cpp'}"
    env = {
        **os.environ,
        **config.env,
        "LD_LIBRARY_PATH": libraries,
        "TESTS": test_id,
        "RDKAFKA_TEST_CONF": str(config.path),
        "TEST_KAFKA_VERSION": kafka_version,
        **({"SUBTESTS": subtests} if subtests else {}),
    }
    command = [str(RUNNER), "-L", "-E", *(["-Q"] if mode == "quick" else []), *(["-s", scenario] if scenario else [])]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, env=env, cwd=RUNNER.parent, capture_output=True, text=True, timeout=TEST_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return Result(test_id, "TIMEOUT", mode, time.monotonic() - started, f"still running after {TEST_TIMEOUT_S} s")
    seconds = time.monotonic() - started
    output = _ANSI.sub("", done.stdout + done.stderr)
    if config.logs is not None:
        (config.logs / f"{test_id}.{mode}.log").write_text(output)
    rows = {name: (state, why.strip()) for name, state, why in _RESULT.findall(output)}
    failures = _FAILURE.findall(output)
    state, reason = rows.get(test_id, ("FAILED" if failures else "NO RESULT", failures[0] if failures else ""))
    reason = reason or f"exit code {done.returncode}, no summary row"
    if state == "PASSED" and done.returncode != 0:
        state = f"EXIT {done.returncode}"
    main_ms = re.search(rf"\] {test_id}: duration ([\d.]+)ms$", output, re.MULTILINE)
    if state == "PASSED" and main_ms and float(main_ms.group(1)) < EMPTY_RUN_MS:
        # Under -Q, SUB_TEST() (not SUB_TEST_QUICK()) returns at once: a test made only of those "passes"
        # without a single request. That is no pass.
        state, reason = "EMPTY", f"its main function returned in {main_ms.group(1)} ms without a request"
    return Result(test_id, state, mode, seconds, reason.strip()[:300])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.librdkafka", description=__doc__)
    parser.add_argument(
        "--all",
        action="store_true",
        help="run every broker test id (quick mode, then full mode for those that were empty in quick mode)",
    )
    parser.add_argument(
        "--bootstrap",
        help="use this broker instead of starting one (4 partitions, auto-create); the tests of the noautocreate "
        "scenario always get a broker of their own, started without auto-create, and so do the SSL, SASL and ACL "
        "tests, each on a broker set up as it needs",
    )
    parser.add_argument("--jobs", type=int, default=2, help="test processes at once (default 2)")
    parser.add_argument("--kafka-version", help=f"TEST_KAFKA_VERSION the tests assume (default {TEST_KAFKA_VERSION})")
    parser.add_argument(
        "--group-protocol",
        choices=["classic", "consumer"],
        default="classic",
        help="consumer: the suite's KIP-848 mode (TEST_CONSUMER_GROUP_PROTOCOL=consumer, tests.consumer.allow, "
        f"TEST_KAFKA_VERSION {CONSUMER_KAFKA_VERSION} unless given)",
    )
    parser.add_argument("--logs", type=Path, help="write each test process's output to <id>.<mode>.log here")
    parser.add_argument("ids", nargs="*", help="only these test ids (quick mode first, as --all)")
    args = parser.parse_args()
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
    build()
    consumer_protocol = args.group_protocol == "consumer"
    expected = allowed(CONSUMER_ALLOW if consumer_protocol else ALLOW)
    args.kafka_version = args.kafka_version or (CONSUMER_KAFKA_VERSION if consumer_protocol else TEST_KAFKA_VERSION)
    protocol_env = {"TEST_CONSUMER_GROUP_PROTOCOL": "consumer"} if consumer_protocol else {}
    exploring = bool(args.all or args.ids)
    ids = args.ids or (broker_test_ids() if args.all else list(expected))
    started = time.monotonic()
    scenarios = {test_id: scenario_of(entry) for test_id, entry in test_entries().items()}
    # The broker a test id runs against: its security set-up's, its scenario's, or the default one (None).
    brokers = {test_id: SECURED_IDS.get(test_id) or scenarios.get(test_id) for test_id in ids}
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tls = make_tls_files(scratch / "tls")
        configs: dict[str | None, RunConfig] = {}
        for broker in sorted(set(brokers.values()), key=str):
            conf: dict[str, str] = {}
            env: dict[str, str] = {}
            if broker is not None and broker in SECURED_IDS.values():
                secured = setup(broker, free_port(), tls)
                bootstrap = stack.enter_context(
                    running_broker(None, tuple(secured.broker_args), INITIAL_REBALANCE_DELAY_MS, secured.add_users)
                )
                conf, env = secured.test_conf, secured.env
            else:
                args_of_scenario = ("--auto-create-topics", "false") if broker == "noautocreate" else ()
                given = None if broker else args.bootstrap
                bootstrap = stack.enter_context(running_broker(given, args_of_scenario, INITIAL_REBALANCE_DELAY_MS))
            # A loaded 2-core machine: stretch the tests' own timeouts; random topic names keep reruns apart.
            conf = {
                "metadata.broker.list": bootstrap,
                "test.timeout.multiplier": "3",
                "test.topic.random": "true",
                **conf,
            }
            path = scratch / f"{broker or 'default'}.conf"
            path.write_text("".join(f"{name}={value}\n" for name, value in conf.items()))
            configs[broker] = RunConfig(path, env | protocol_env, args.logs)

        def run(test_id: str) -> Result:
            scenario, config = scenarios.get(test_id), configs[brokers[test_id]]
            if exploring:
                return explore(test_id, config, scenario)
            entry = expected[test_id]
            version = entry.kafka_version or args.kafka_version
            return run_test(test_id, config, version, scenario, entry.mode, entry.subtests)

        def explore(test_id: str, config: RunConfig, scenario: str | None) -> Result:
            known = expected.get(test_id)
            version = known.kafka_version if known is not None and known.kafka_version else args.kafka_version
            result = run_test(test_id, config, version, scenario, "quick")
            if result.state == "EMPTY" or (known is not None and known.mode == "full" and result.state == "PASSED"):
                result = run_test(test_id, config, version, scenario, "full")
            return result

        # test-runner picks tests by number, so ids sharing one (0045_*) all run in each of their
        # processes: never at once, or their regex subscriptions see each other's topics.
        siblings: dict[str, list[str]] = {}
        for test_id in ids:
            siblings.setdefault(test_id.split("_")[0], []).append(test_id)
        with ThreadPoolExecutor(args.jobs) as pool:
            groups = pool.map(lambda group: [run(test_id) for test_id in group], siblings.values())
            results = [result for group in groups for result in group]
    for r in results:
        print(f"{r.test_id:47} {r.state:9} {r.mode:5} {r.seconds:6.1f}s {'' if r.state == 'PASSED' else r.reason}")
    passed = [r for r in results if r.state == "PASSED"]
    full = sum(r.mode == "full" for r in passed)
    took = time.monotonic() - started
    print(f"librdkafka: {len(passed)} of {len(ids)} test ids passed ({full} of them in full mode) in {took:.0f} s")
    regressions = sorted(r.test_id for r in results if r.test_id in expected and r.state != "PASSED")
    if regressions:
        print("allow-listed but not passing: " + " ".join(regressions))
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
