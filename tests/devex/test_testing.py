"""streamhouse.testing.StreamHouseContainer: the image under testcontainers-python. Where a Docker
engine answers, a container is started and used through confluent-kafka; elsewhere that test is
skipped, saying why. What the container passes to the broker is checked everywhere."""

from __future__ import annotations

import pytest

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
    from confluent_kafka import Consumer, Producer

    with testing.StreamHouseContainer() as broker:
        assert broker.ports == {9092: broker.host_port}
        bootstrap = broker.get_bootstrap_server()
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce("in-docker", value=b"hello")
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g", "auto.offset.reset": "earliest"})
        consumer.subscribe(["in-docker"])
        message = None
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        consumer.close()
        assert message is not None and message.value() == b"hello"
