"""A real Prometheus server (Debian's `prometheus` binary) for tests, scraping brokers every second.

Each server has its own temporary folder (config and TSDB), listens on 127.0.0.1 and a free port,
loads the project's alert rules (so a rule file Prometheus refuses fails the test), and is stopped
by `stop()`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.sessionserver import free_port

ALERT_RULES = Path(__file__).parents[1] / "prometheus" / "alerts.yml"
START_TIMEOUT = 60.0
SCRAPE_JOB = "streamhouse"


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    folder: Path

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant-query result vector of a PromQL expression (raises on a query Prometheus rejects)."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        try:
            with urllib.request.urlopen(address, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                raise AssertionError(f"Prometheus rejected {expression!r}: {error.read().decode()}") from None
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}", timeout=10) as response:
            return json.loads(response.read())["data"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_prometheus(targets: Sequence[str]) -> PrometheusServer:
    """Prometheus scraping /metrics of each host:port in `targets` every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("no prometheus binary: scripts/test installs Debian's prometheus package")
    folder = Path(tempfile.mkdtemp(prefix="streamhouse-prometheus-"))
    shutil.copy(ALERT_RULES, folder / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": SCRAPE_JOB, "static_configs": [{"targets": list(targets)}]}],
    }
    # JSON is YAML: no YAML writer needed.
    (folder / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "prometheus.log").open("wb"),
    )
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, folder)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    log = (folder / "prometheus.log").read_text(errors="replace")[-4000:]
    server.stop()
    raise RuntimeError("Prometheus did not start:\n" + log)
