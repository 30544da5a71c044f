"""S3ObjectStore beyond the contract: key prefix, multipart uploads, retries, timeouts, limits, stats.

Faults are injected by replacing methods of the store's aiobotocore client; everything else runs
against the session's S3 server (tests/s3server.py).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from streamhouse.storage.objects import ObjectNotFoundError, ObjectStoreUnavailableError
from streamhouse.storage.objects.s3 import S3ObjectStore
from tests.s3server import S3Server

MiB = 1024 * 1024
FAST_RETRIES = {"backoff_base": 0.001, "backoff_cap": 0.01}


def client_error(code: str, status: int, operation: str = "PutObject") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


@pytest.fixture
async def opened() -> AsyncIterator[Callable[[S3ObjectStore], S3ObjectStore]]:
    """Register stores to be closed after the test."""
    stores: list[S3ObjectStore] = []
    yield lambda store: stores.append(store) or store
    for store in stores:
        await store.close()


async def patch_client(store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch, method: str, fake: Any) -> Any:
    """Replace one method of the store's client; returns the original for the fake to call."""
    client = await store._client()
    original = getattr(client, method)
    monkeypatch.setattr(client, method, fake)
    return original


def failing_then(original: Any, errors: list[BaseException]) -> Any:
    """A client method that raises `errors` one call after another, then calls `original`."""

    async def method(**kwargs: Any) -> Any:
        if errors:
            raise errors.pop(0)
        return await original(**kwargs)

    return method


def bucket_keys(server: S3Server, bucket: str) -> list[str]:
    return [item["Key"] for item in server.client().list_objects_v2(Bucket=bucket).get("Contents", ())]


# -- keys under a prefix ----------------------------------------------------------------------


async def test_keys_live_under_the_prefix(s3_server: S3Server, s3_bucket: str, opened: Any) -> None:
    store = opened(s3_server.store(s3_bucket, "/cluster/a/"))
    neighbour = opened(s3_server.store(s3_bucket, "cluster/ab"))
    await store.put("flush/1", b"x")
    await neighbour.put("flush/2", b"y")
    assert sorted(bucket_keys(s3_server, s3_bucket)) == ["cluster/a/flush/1", "cluster/ab/flush/2"]
    assert await store.list() == ["flush/1"]
    assert await neighbour.list("flush/") == ["flush/2"]
    with pytest.raises(ObjectNotFoundError):
        await store.get("flush/2")
    # What is no key of ours (a console's "folder" marker) is not listed.
    s3_server.client().put_object(Bucket=s3_bucket, Key="cluster/a/folder/", Body=b"")
    assert await store.list() == ["flush/1"]
    await store.delete(["flush/1", "flush/2"])
    assert bucket_keys(s3_server, s3_bucket) == ["cluster/a/folder/", "cluster/ab/flush/2"]


async def test_a_key_too_long_with_its_prefix_is_rejected(s3_server: S3Server, s3_bucket: str, opened: Any) -> None:
    store = opened(s3_server.store(s3_bucket, "prefix"))
    await store.put("k" * (1024 - len("prefix/")), b"fits")
    with pytest.raises(ValueError, match="1024"):
        await store.put("k" * (1025 - len("prefix/")), b"too long for S3")


@pytest.mark.parametrize("prefix", ["a//b", "../up", "a/.hidden"])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        S3ObjectStore("bucket", prefix)


async def test_path_style_addressing_with_an_endpoint(s3_server: S3Server, s3_bucket: str, opened: Any) -> None:
    store = opened(s3_server.store(s3_bucket))
    assert (await store._client()).meta.config.s3 == {"addressing_style": "path"}
    aws = opened(S3ObjectStore("bucket", region="eu-west-1"))
    client = await aws._client()
    assert client.meta.config.s3 == {"addressing_style": "auto"}
    assert client.meta.region_name == "eu-west-1"


async def test_open_makes_the_client_without_a_request(opened: Any) -> None:
    store = opened(S3ObjectStore("bucket", endpoint="http://127.0.0.1:1"))  # nothing listens there
    await store.open()
    assert store._client_ is not None and await store._client() is store._client_
    assert store.stats.operations == {}


# -- multipart uploads ------------------------------------------------------------------------


async def test_large_puts_are_multipart_uploads(s3_server: S3Server, s3_bucket: str, opened: Any) -> None:
    # S3 wants parts of at least 5 MiB (but the last).
    store = opened(s3_server.store(s3_bucket, multipart_threshold=6 * MiB, part_size=5 * MiB))
    data = random.Random(1).randbytes(11 * MiB + 3)
    await store.put("big", memoryview(data))
    assert await store.get("big") == data
    assert await store.get("big", 5 * MiB - 2, 5 * MiB + 2) == data[5 * MiB - 2 : 5 * MiB + 2]
    operations = store.stats.operations
    assert operations["CreateMultipartUpload"].requests == 1
    assert operations["UploadPart"].requests == 3
    assert operations["CompleteMultipartUpload"].requests == 1
    assert "PutObject" not in operations
    assert store.stats.bytes_sent == len(data)
    await store.put("small", b"x" * (6 * MiB))  # at the threshold: one PutObject
    assert operations["PutObject"].requests == 1


async def test_a_failed_part_aborts_the_upload(
    s3_server: S3Server, s3_bucket: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(s3_server.store(s3_bucket, multipart_threshold=6 * MiB, part_size=5 * MiB, **FAST_RETRIES))
    original = await patch_client(store, monkeypatch, "upload_part", None)

    async def upload_part(**kwargs: Any) -> Any:
        if kwargs["PartNumber"] == 2:
            raise client_error("AccessDenied", 403, "UploadPart")
        return await original(**kwargs)

    monkeypatch.setattr(await store._client(), "upload_part", upload_part)
    with pytest.raises(ObjectStoreUnavailableError, match="UploadPart"):
        await store.put("big", bytes(11 * MiB))
    assert store.stats.operations["AbortMultipartUpload"].requests == 1
    assert s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert await store.list() == []


# -- retries, timeouts, unavailability ----------------------------------------------------------


async def test_throttling_is_retried_and_counted(
    s3_server: S3Server, s3_bucket: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(s3_server.store(s3_bucket, **FAST_RETRIES))
    errors: list[BaseException] = [client_error("SlowDown", 503), client_error("InternalError", 500)]
    original = await patch_client(store, monkeypatch, "put_object", None)
    monkeypatch.setattr(await store._client(), "put_object", failing_then(original, errors))
    await store.put("retried", b"data")
    assert await store.get("retried") == b"data"
    stats = store.stats.operations["PutObject"]
    assert (stats.requests, stats.errors, stats.throttled, stats.retries) == (3, 2, 1, 2)
    assert stats.seconds >= stats.max_seconds > 0


async def test_connection_errors_and_timeouts_are_retried(
    s3_server: S3Server, s3_bucket: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(s3_server.store(s3_bucket, **FAST_RETRIES))
    await store.put("k", b"v")
    errors: list[BaseException] = [ConnectionResetError("reset"), TimeoutError()]
    original = await patch_client(store, monkeypatch, "get_object", None)
    monkeypatch.setattr(await store._client(), "get_object", failing_then(original, errors))
    assert await store.get("k") == b"v"
    assert store.stats.operations["GetObject"].errors == 2


async def test_errors_that_are_not_transient_are_not_retried(
    s3_server: S3Server, s3_bucket: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(s3_server.store(s3_bucket, **FAST_RETRIES))
    errors: list[BaseException] = [client_error("AccessDenied", 403)] * 3
    original = await patch_client(store, monkeypatch, "put_object", None)
    monkeypatch.setattr(await store._client(), "put_object", failing_then(original, errors))
    with pytest.raises(ObjectStoreUnavailableError, match="AccessDenied"):
        await store.put("k", b"v")
    assert store.stats.operations["PutObject"].requests == 1


async def test_retries_give_up_after_max_attempts(
    s3_server: S3Server, s3_bucket: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(s3_server.store(s3_bucket, max_attempts=4, **FAST_RETRIES))
    errors: list[BaseException] = [client_error("ServiceUnavailable", 503, "ListObjectsV2")] * 10
    original = await patch_client(store, monkeypatch, "list_objects_v2", None)
    monkeypatch.setattr(await store._client(), "list_objects_v2", failing_then(original, errors))
    with pytest.raises(ObjectStoreUnavailableError, match="after 4 attempts"):
        await store.list()
    assert store.stats.operations["ListObjectsV2"].errors == 4


async def test_a_missing_bucket_is_unavailability_not_a_missing_object(s3_server: S3Server, opened: Any) -> None:
    store = opened(s3_server.store("no-such-bucket-here", **FAST_RETRIES))
    with pytest.raises(ObjectStoreUnavailableError):
        await store.check()
    with pytest.raises(ObjectStoreUnavailableError):
        await store.get("k", 0, 10)
    with pytest.raises(ObjectStoreUnavailableError):
        await store.put("k", b"v")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_an_unreachable_endpoint_is_unavailable(opened: Any) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    store = opened(S3ObjectStore("bucket", endpoint=endpoint, max_attempts=3, **FAST_RETRIES))
    with pytest.raises(ObjectStoreUnavailableError, match="after 3 attempts"):
        await store.put("k", b"v")
    with pytest.raises(ObjectStoreUnavailableError):
        await store.check()
    assert store.stats.operations["PutObject"].errors == 3
    assert store.stats.operations["HeadBucket"].requests == 1  # readiness checks are not retried


async def test_a_server_that_never_answers_times_out(opened: Any) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = opened(
        S3ObjectStore(
            "bucket", endpoint=f"http://127.0.0.1:{port}", request_timeout=0.2, max_attempts=2, **FAST_RETRIES
        )
    )
    started = time.monotonic()
    try:
        with pytest.raises(ObjectStoreUnavailableError, match="after 2 attempts"):
            await store.get("k")
    finally:
        for writer in accepted:
            writer.close()
        server.close()
    assert time.monotonic() - started < 3
    assert store.stats.operations["GetObject"].errors == 2


async def test_requests_in_flight_are_bounded(s3_server: S3Server, s3_bucket: str, opened: Any) -> None:
    store = opened(s3_server.store(s3_bucket, max_in_flight=3))
    running = peak = 0

    async def attempt(client: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running, store.stats.in_flight)
        await asyncio.sleep(0.01)
        running -= 1

    await asyncio.gather(*(store._call("Probe", attempt) for _ in range(20)))
    assert peak == 3
    assert store.stats.operations["Probe"].requests == 20
    assert store.stats.in_flight == 0


# -- delete batches, list pages, close ----------------------------------------------------------


async def test_deletes_go_in_batches_of_1000(
    s3_server: S3Server, s3_bucket: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(s3_server.store(s3_bucket, **FAST_RETRIES))
    await asyncio.gather(*(store.put(f"keep/{n}", b"x") for n in range(3)), store.put("gone/1", b"x"))
    batches: list[int] = []
    original = await patch_client(store, monkeypatch, "delete_objects", None)

    async def delete_objects(**kwargs: Any) -> Any:
        batches.append(len(kwargs["Delete"]["Objects"]))
        if len(batches) == 1:  # S3 may report per-key failures in a 200 answer: the batch is repeated
            return {"Errors": [{"Key": "x", "Code": "InternalError"}]}
        return await original(**kwargs)

    monkeypatch.setattr(await store._client(), "delete_objects", delete_objects)
    await store.delete(["gone/1", *(f"missing/{n}" for n in range(2499))])
    assert sorted(batches) == [500, 1000, 1000, 1000]
    assert await store.list() == ["keep/0", "keep/1", "keep/2"]


async def test_list_follows_pages(
    s3_server: S3Server, s3_bucket: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened(s3_server.store(s3_bucket, "p"))
    keys = [f"k/{n:02d}" for n in range(7)]
    await asyncio.gather(*(store.put(key, b"x") for key in reversed(keys)))
    original = await patch_client(store, monkeypatch, "list_objects_v2", None)

    async def small_pages(**kwargs: Any) -> Any:
        return await original(MaxKeys=2, **kwargs)

    monkeypatch.setattr(await store._client(), "list_objects_v2", small_pages)
    assert await store.list() == keys
    assert await store.list("k/0") == keys
    assert store.stats.operations["ListObjectsV2"].requests == 8


async def test_closed_store_refuses_requests(s3_server: S3Server, s3_bucket: str) -> None:
    store = s3_server.store(s3_bucket)
    await store.put("k", b"v")
    await store.close()
    await store.close()
    with pytest.raises(ObjectStoreUnavailableError, match="closed"):
        await store.get("k")


async def test_stats_count_requests_and_bytes(s3_server: S3Server, s3_bucket: str, opened: Any) -> None:
    store = opened(s3_server.store(s3_bucket))
    await store.put("a", b"12345")
    assert await store.get("a", 1, 3) == b"23"
    with pytest.raises(ObjectNotFoundError):
        await store.get("missing")
    assert await store.get("a", 9) == b""
    stats = store.stats
    assert (stats.bytes_sent, stats.bytes_received) == (5, 2)
    get = stats.operations["GetObject"]
    assert (get.requests, get.errors) == (3, 0)  # a missing key or an empty range is an answer, not an error
