# Stand-in for kafka-python's test/service.py, which its PyPI sdist leaves out (MANIFEST.in ships only
# kafka/). With KAFKA_URI set the fixtures only build ExternalService(host, port); nothing is spawned.
class ExternalService:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port


class SpawnedService:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("this run uses an external broker (KAFKA_URI); nothing is spawned")
