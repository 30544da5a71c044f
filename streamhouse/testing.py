"""StreamHouseContainer: the broker in Docker, through testcontainers-python (`pip install
'streamhouse-broker[testcontainers]'`), for tests that want the image rather than EmbeddedBroker.

    with StreamHouseContainer() as broker:
        producer = Producer({"bootstrap.servers": broker.get_bootstrap_server()})

The image is the repository's Dockerfile, built once: `docker build -t streamhouse-broker:<version> .`
(the default image name follows the installed version). The broker listens on 9092 in the container,
published on a free port of the host, and advertises that host address and port to clients.
"""

from __future__ import annotations

import socket
from typing import Any

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from streamhouse import __version__

KAFKA_PORT = 9092
# The line `streamhouse serve` prints once it accepts clients.
READY_LINE = "listening on"


def default_image() -> str:
    return f"streamhouse-broker:{__version__}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_arguments(advertised_host: str, host_port: int) -> list[str]:
    """What follows the image's `streamhouse serve --host 0.0.0.0 --data-dir ...` entry point."""
    return [
        "--listeners",
        f"PLAINTEXT://0.0.0.0:{KAFKA_PORT}",
        "--advertised-listeners",
        f"PLAINTEXT://{advertised_host}:{host_port}",
        "--group-initial-rebalance-delay-ms",
        "0",
    ]


class StreamHouseContainer(DockerContainer):
    """The StreamHouse image, advertising the host's address and the published port to clients."""

    def __init__(self, image: str | None = None, host_port: int | None = None, **kwargs: Any) -> None:
        super().__init__(image or default_image(), **kwargs)
        # Published on a port chosen now, so that the broker can advertise it from its first answer.
        self.host_port = host_port or free_port()
        self.with_bind_ports(KAFKA_PORT, self.host_port)
        self.waiting_for(LogMessageWaitStrategy(READY_LINE))

    def _configure(self) -> None:
        self.with_command(serve_arguments(self.get_docker_client().host(), self.host_port))

    def get_bootstrap_server(self) -> str:
        return f"{self.get_container_host_ip()}:{self.host_port}"
