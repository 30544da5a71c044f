"""streamhouse.testing.StreamHouseContainer: the image under testcontainers-python. Where a Docker
engine answers, a container is started and used through confluent-kafka; elsewhere that test is
skipped, saying why. What the container passes to the broker is checked everywhere."""

from __future__ import annotations

import pytest

from tests.devex.clients import produce, read_values

testing = pytest.importorskip("streamhouse.testing", reason="testcontainers is not installed")


def docker_engine_problem() -> str | None:
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # any failure to reach an engine means: no Docker here
        return f"no Docker engine answers here ({type(exc).__name__}): StreamHouseContainer needs one"
    return None


def test_the_broker_advertises_the_host_and_the_published_port() -> None:
    arguments = testing.serve_arguments("localhost", 39092)
    assert arguments[arguments.index("--listeners") + 1] == "PLAINTEXT://0.0.0.0:9092"
    assert arguments[arguments.index("--advertised-listeners") + 1] == "PLAINTEXT://localhost:39092"
    assert testing.default_image() == f"streamhouse-broker:{testing.__version__}"


@pytest.mark.e2e
def test_a_container_serves_confluent_kafka() -> None:
    problem = docker_engine_problem()
    if problem:
        pytest.skip(problem)

    with testing.StreamHouseContainer() as broker:
        assert broker.ports == {9092: broker.host_port}
        bootstrap = broker.get_bootstrap_server()
        produce(bootstrap, "in-docker", b"hello")
        assert read_values(bootstrap, "in-docker", 1, group="g") == [b"hello"]
