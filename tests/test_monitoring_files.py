"""The monitoring files: promtool checks of the Prometheus config and alert rules (with their unit tests),
and structural checks of the Grafana provisioning and dashboard and of docker-compose.yml.

The dashboard's queries are run against a live Prometheus in tests/e2e/test_prometheus.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
PROMETHEUS = ROOT / "prometheus"
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "streamhouse.json"
COMPOSE = ROOT / "docker-compose.yml"
ALERTS = [
    "StreamHouseBrokerDown",
    "StreamHouseNotReady",
    "StreamHouseObjectStoreFailures",
    "StreamHouseConnectionsNearLimit",
    "StreamHouseProduceErrors",
    "StreamHouseProduceLatencyHigh",
    "StreamHouseNoProduceTraffic",
    "StreamHouseConsumerLagHigh",
    "StreamHouseFetchLatencyHigh",
    "StreamHouseRebalanceStorm",
    "StreamHouseS3ErrorRate",
    "StreamHouseS3LatencyHigh",
    "StreamHouseMetadataStoreLatencyHigh",
    "StreamHouseCacheHitRatioLow",
]


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    assert binary is not None, "no promtool: scripts/test installs Debian's prometheus package"
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=PROMETHEUS)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def test_promtool_check_config() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")


def test_promtool_check_rules() -> None:
    assert f"SUCCESS: {len(ALERTS)} rules found" in promtool("check", "rules", "alerts.yml")


def test_promtool_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_every_alert_rule_has_for_severity_summary_and_both_unit_tests() -> None:
    rules = alert_rules()
    assert [rule["alert"] for rule in rules] == ALERTS
    for rule in rules:
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert re.search(r"\{\{ \$labels\.\w+ \}\}", rule["annotations"]["summary"]), rule["alert"]
    cases = [case for test in load_yaml(PROMETHEUS / "alerts_test.yml")["tests"] for case in test["alert_rule_test"]]
    for alert in ALERTS:
        outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == alert}
        assert outcomes == {True, False}, f"{alert} needs a firing and a not-firing case"


def test_dashboard_panels_each_have_queries_of_streamhouse_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    datasource_uid = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]["uid"]
    titles = " ".join(panel["title"].lower() for panel in panels)
    for topic in ("records in", "records out", "produce latency", "fetch latency", "lag", "errors", "s3 requests"):
        assert topic in titles, topic
    for topic in ("s3 average latency", "s3 errors", "cache hit ratio", "connections", "requests per api"):
        assert topic in titles, topic
    for topic in ("log cleaner bytes read and written", "log cleaner dirty ratio", "log cleaner time since last clean"):
        assert topic in titles, topic
    for panel in panels:
        assert panel["datasource"]["uid"] == datasource_uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert re.search(r"\bstreamhouse_\w+", target["expr"]), (panel["title"], target["expr"])
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_grafana_provisioning_loads_the_dashboard_folder() -> None:
    provider = load_yaml(GRAFANA / "provisioning" / "dashboards" / "streamhouse.yml")["providers"][0]
    compose = load_yaml(COMPOSE)
    mounts = dict(volume.split(":")[:2][::-1] for volume in compose["services"]["grafana"]["volumes"])
    assert (ROOT / mounts[provider["options"]["path"]] / DASHBOARD.name).is_file()
    assert (ROOT / mounts["/etc/grafana/provisioning"]).resolve() == (GRAFANA / "provisioning").resolve()


def test_compose_stack_has_every_service_wired() -> None:
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    expected = {
        "streamhouse",
        "postgres",
        "minio",
        "minio-init",
        "prometheus",
        "alertmanager",
        "grafana",
        "node-exporter",
        "certs-init",
        "users-init",
    }
    assert set(services) == expected
    assert services["streamhouse"]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    broker_command = services["streamhouse"]["command"]
    assert any(arg.startswith("postgresql://") and "@postgres:" in arg for arg in broker_command)
    assert "s3://streamhouse/data" in broker_command and "http://minio:9000" in broker_command
    assert "mb --ignore-existing local/streamhouse" in services["minio-init"]["entrypoint"][-1]
    for init in ("minio-init", "certs-init", "users-init"):
        assert services["streamhouse"]["depends_on"][init]["condition"] == "service_completed_successfully"
    # SASL_SSL with the certificate certs-init makes, and the first user users-init adds, on the broker's database.
    assert "EXTERNAL:SASL_SSL,INTERNAL:SASL_SSL" in broker_command
    certs = "streamhouse-certs:/certs"
    assert (
        certs in services["certs-init"]["volumes"]
        and "-out /certs/server.pem" in services["certs-init"]["entrypoint"][-1]
    )
    assert "streamhouse-certs:/etc/streamhouse/certs:ro" in services["streamhouse"]["volumes"]
    assert "/etc/streamhouse/certs/server.pem" in broker_command
    users = services["users-init"]["entrypoint"]
    assert (
        users[:4] == ["streamhouse", "users", "add", "admin"]
        and users[users.index("--mechanism") + 1] == "SCRAM-SHA-512"
    )
    assert users[users.index("--metadata") + 1] in broker_command
    for name, service in services.items():
        for volume in service.get("volumes", ()):
            source = volume.split(":")[0]
            if source.startswith(("./", "/")):
                assert source == "/" or (ROOT / source).exists(), (name, volume)
            else:
                assert source in compose["volumes"], (name, volume)
    # Prometheus scrapes and alerts the compose services by their names and ports.
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"][0].split(":")[0] for job in config["scrape_configs"]
    }
    assert targets["streamhouse"] == "streamhouse" and targets["node"] == "node-exporter"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    datasource = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
