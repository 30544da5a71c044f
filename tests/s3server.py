"""A real S3 API for the tests, one per test session, started on first use.

Where a Docker engine answers (`docker info`) and testcontainers is installed, MinIO runs in a
container; otherwise moto's standalone server runs as a subprocess on 127.0.0.1 and a free port.
STREAMHOUSE_TEST_S3=moto or =minio forces one. While a server runs, AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY in this process's environment are its credentials, so broker subprocesses
started by the tests reach it too. tests/conftest.py stops it at the end of the session.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamhouse.storage.objects.s3 import S3ObjectStore
from tests.sessionserver import SessionServer, docker_available, free_port, importable

START_TIMEOUT = 30.0
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@dataclass
class S3Server:
    """An S3 endpoint for tests: its URL, credentials and how to stop it."""

    kind: str  # "moto" or "minio"
    endpoint: str
    access_key: str
    secret_key: str
    stop: Callable[[], None]
    region: str = "us-east-1"
    _client: Any = field(default=None, repr=False)

    def client(self) -> Any:
        """A synchronous botocore S3 client, for fixtures and for looking into buckets."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 3}),
        )

    def create_bucket(self) -> str:
        """A new, empty bucket with a unique name."""
        name = f"test-{next(_numbers)}-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def store(self, bucket: str | None = None, prefix: str = "", **options: Any) -> S3ObjectStore:
        """An S3ObjectStore on `bucket` (default: a new bucket) under `prefix`."""
        return S3ObjectStore(
            bucket or self.create_bucket(), prefix, endpoint=self.endpoint, region=self.region, **options
        )

    def storage_args(self, bucket: str, prefix: str = "streamhouse") -> list[str]:
        """`streamhouse serve` flags that store objects in `bucket` under `prefix`."""
        return ["--storage", f"s3://{bucket}/{prefix}", "--s3-endpoint", self.endpoint, "--s3-region", self.region]


_numbers = itertools.count()


def start_server() -> S3Server:
    choice = os.environ.get("STREAMHOUSE_TEST_S3", "auto")
    if choice not in ("auto", "moto", "minio"):
        raise RuntimeError(f"STREAMHOUSE_TEST_S3={choice!r}: use auto, moto or minio")
    if choice == "minio" or (choice == "auto" and docker_available() and importable("testcontainers.minio")):
        server = _start_minio()
    else:
        server = _start_moto()
    return _with_credentials(server)


def _with_credentials(server: S3Server) -> S3Server:
    """Point botocore's default credential chain at the server until it stops."""
    saved = {name: os.environ.get(name) for name in _CREDENTIAL_VARIABLES}
    for name in _CREDENTIAL_VARIABLES:
        os.environ.pop(name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = server.access_key
    os.environ["AWS_SECRET_ACCESS_KEY"] = server.secret_key
    stop = server.stop

    def stop_and_restore() -> None:
        try:
            stop()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    server.stop = stop_and_restore
    return server


def _start_minio() -> S3Server:
    # testcontainers is not a declared test dependency: `pip install testcontainers[minio]` to use this.
    from testcontainers.minio import MinioContainer

    container = MinioContainer()
    container.start()
    endpoint = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(container.port)}"
    return S3Server("minio", endpoint, container.access_key, container.secret_key, container.stop)


def _start_moto() -> S3Server:
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- open while the server runs, closed by its stop()
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if _wait_for_port(process, port):

            def stop(process: subprocess.Popen[bytes] = process) -> None:
                _stop(process)
                log.close()

            return S3Server("moto", f"http://127.0.0.1:{port}", "testing", "testing", stop)
        _stop(process)  # most likely the port was taken meanwhile: try another
    log.seek(0)
    output = log.read().decode(errors="replace")[-4000:]
    log.close()
    raise RuntimeError("moto server did not start:\n" + output)


def _wait_for_port(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_session = SessionServer(start_server)
shared_server = _session.get
stop_shared_server = _session.stop
