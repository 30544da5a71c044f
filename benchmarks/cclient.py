"""The C client of `streamhouse bench` (client "c"): benchmarks/cload/cload.c, built against librdkafka.

librdkafka comes from the same place as compat/librdkafka's: the source shipped in the npm package
it pins, built once under ~/.cache/streamhouse (`compat.librdkafka.__main__.build`, which needs gcc,
make and the Debian packages it names); cload is compiled against that build's src/ and runs with it
(rpath). Nothing is fetched but that npm package. Each producer is a process of its own, so that no
GIL or Python callback stands between librdkafka and the broker; a case's time runs from the first
producer's start (after connecting) to the last one's end, on the machine's monotonic clock.
Offsets: with one producer its delivery reports must name exactly 0..n-1 per partition; with several,
each process sees only its share, and the consume that follows checks every partition gives exactly
the records delivered to it, at offsets 0..n-1 in order.
"""

from __future__ import annotations

import subprocess
from array import array
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from benchmarks.servers import BenchmarkError

HERE = Path(__file__).parent
SOURCE = HERE / "cload" / "cload.c"


def librdkafka_src() -> Path:
    """librdkafka's src/ folder (rdkafka.h, librdkafka.so), built first if it is not yet."""
    from compat.librdkafka.__main__ import SOURCE as LIBRDKAFKA
    from compat.librdkafka.__main__ import build

    library = LIBRDKAFKA / "src" / "librdkafka.so"
    if not library.exists():
        build()
    return library.parent


def binary() -> Path:
    """The cload binary (beside that librdkafka build), compiled again whenever its source is newer."""
    from compat.librdkafka.__main__ import CACHE

    src = librdkafka_src()
    target = CACHE / "cload"
    if not target.exists() or target.stat().st_mtime < SOURCE.stat().st_mtime:
        subprocess.run(
            ["gcc", "-O2", "-Wall", "-I", str(src), "-o", str(target), str(SOURCE), str(src / "librdkafka.so"),
             f"-Wl,-rpath,{src}"],
            check=True,
        )  # fmt: skip
    return target


def fields(line: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in line.split())


@dataclass(frozen=True)
class Produced:
    seconds: float
    per_partition: dict[int, int]
    latencies: list[float]  # seconds from each send to its delivery report


def produce(bootstrap: str, topic: str, size: int, counts: list[int], acks: str, timeout: float) -> Produced:
    """`len(counts)` producer processes at once, each sending its count; checks every delivery."""
    with TemporaryDirectory(prefix="cload-") as folder:
        files = [Path(folder) / f"latencies-{index}" for index in range(len(counts))]
        processes = [
            subprocess.Popen(
                [str(binary()), "produce", bootstrap, topic, str(size), str(count), acks, str(file)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for count, file in zip(counts, files, strict=True)
        ]
        reports = [finished(process, timeout) for process in processes]
        latencies: list[float] = []
        for file in files:
            micros = array("I")
            micros.frombytes(file.read_bytes())
            latencies.extend(value / 1e6 for value in micros)
    per_partition: dict[int, int] = {}
    for report in reports:
        if report["errors"] != "0":
            raise BenchmarkError(f"{topic}: {report['errors']} failed deliveries, first: {report['first_error']}")
        for entry in report["partitions"].split(","):
            partition, count, _ = (int(part) for part in entry.split(":"))
            per_partition[partition] = per_partition.get(partition, 0) + count
    if sum(per_partition.values()) != sum(counts):
        raise BenchmarkError(f"{topic}: {sum(per_partition.values())} delivery reports for {sum(counts)} records")
    if len(reports) == 1 and not all(entry.endswith(":1") for entry in reports[0]["partitions"].split(",")):
        raise BenchmarkError(f"{topic}: delivered offsets are not exactly 0..n-1: {reports[0]['partitions']}")
    return Produced(span(reports), per_partition, latencies)


def consume(bootstrap: str, topic: str, size: int, expected: dict[int, int], partitions: int, timeout: float) -> float:
    """Seconds to read every partition from the beginning, each record checked (offset, value) by cload."""
    counts = ",".join(str(expected.get(partition, 0)) for partition in range(partitions))
    process = subprocess.Popen(
        [str(binary()), "consume", bootstrap, topic, str(size), str(partitions), counts],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    report = finished(process, timeout)
    if report["errors"] != "0":
        raise BenchmarkError(f"{topic}: consume failed: {report['first_error']}")
    return span([report])


def finished(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    try:
        out, err = process.communicate(timeout=timeout * 2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchmarkError(f"cload still running after {timeout * 2:.0f} s") from None
    lines = out.strip().splitlines()
    if not lines or "started=" not in lines[-1]:
        raise BenchmarkError(f"cload exited with {process.returncode} and no report: {err.strip()[-500:]}")
    return fields(lines[-1])


def span(reports: list[dict[str, str]]) -> float:
    """From the first process's start to the last one's end."""
    return max(float(r["ended"]) for r in reports) - min(float(r["started"]) for r in reports)
