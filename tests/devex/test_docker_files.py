"""The Dockerfile and docker-compose.yml, checked without a Docker engine: compose parses the file
(`docker-compose config`, Debian's docker-compose), every image pulled is pinned, the broker runs as a
user of its own with its health check on the configured HTTP port, and advertises one listener to this
host and one to the compose network."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamhouse import __version__

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as docker-compose resolves it."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/test installs Debian's docker-compose)")
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)
    return parsed


def published_ports(service: dict[str, Any]) -> dict[int, int]:
    """Container port to host port; docker-compose writes some as mappings, some as "ip:host:container/tcp"."""
    ports: dict[int, int] = {}
    for port in service["ports"]:
        if isinstance(port, dict):
            ports[int(port["target"])] = int(port["published"])
        else:
            *_, host, container = port.split("/")[0].split(":")
            ports[int(container)] = int(host)
    return ports


def test_every_pulled_image_is_pinned(compose: dict[str, Any]) -> None:
    images = {name: service["image"] for name, service in compose["services"].items() if "build" not in service}
    assert images, "no pulled images?"
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} names no version"
    base = re.search(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert base is not None and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1))


def test_the_built_image_is_tagged_with_the_version(compose: dict[str, Any]) -> None:
    assert compose["services"]["streamhouse"]["image"] == f"streamhouse-broker:{__version__}"


def test_two_advertised_listeners_one_for_the_host_one_for_the_compose_network(compose: dict[str, Any]) -> None:
    service = compose["services"]["streamhouse"]
    command = service["command"]
    listeners = dict(item.split("://") for item in command[command.index("--listeners") + 1].split(","))
    advertised = dict(item.split("://") for item in command[command.index("--advertised-listeners") + 1].split(","))
    assert set(listeners) == set(advertised) and len(advertised) == 2
    hosts = {name: address.rpartition(":")[0] for name, address in advertised.items()}
    assert sorted(hosts.values()) == ["localhost", "streamhouse"]  # this host; the service name on the network
    published = published_ports(service)
    host_listener = next(name for name, host in hosts.items() if host == "localhost")
    assert int(listeners[host_listener].rpartition(":")[2]) in published


def test_the_broker_runs_as_its_own_user_with_its_health_check_on_the_configured_port(
    compose: dict[str, Any],
) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert dockerfile.index("USER ") < dockerfile.index("ENTRYPOINT")
    health = dockerfile[dockerfile.index("HEALTHCHECK") :].split("\n", 2)[1]
    assert "os.environ['STREAMHOUSE_METRICS_PORT']" in health and "/ready" in health
    service = compose["services"]["streamhouse"]
    assert service["environment"]["STREAMHOUSE_METRICS_PORT"] == "8080"
    assert "--metrics-port" not in service["command"]  # one place sets the port: the environment
    assert published_ports(service)[8080] == 8080
