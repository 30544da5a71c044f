"""An object store in an S3 bucket (AWS S3, MinIO, moto, any S3-compatible API), on aiobotocore.

Retries are ours alone: botocore's own retries are switched off (total_max_attempts=1) so that every
attempt passes through one loop that bounds requests in flight, applies the per-request timeout, counts
each request in `stats` and backs off with full jitter (sleep uniform(0, min(cap, base * 2**n))).
Retried: throttling (SlowDown, 503, 429...), other 5xx and InternalError, timeouts, connection errors.
Not retried: anything else (403, a missing bucket, bad credentials). After the last attempt, or on an
error not retried, the caller gets ObjectStoreUnavailableError; a missing key is ObjectNotFoundError.

Credentials, and an endpoint when none is given, come from botocore's usual chain: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL(_S3), ~/.aws, instance roles. Request
checksums follow botocore's defaults (CRC32 on PUT); an S3-compatible service that rejects them can be
served with AWS_REQUEST_CHECKSUM_CALCULATION=when_required.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.loaders import Loader, create_loader

from streamhouse.storage.objects.base import ObjectData, ObjectNotFoundError, ObjectStoreUnavailableError
from streamhouse.storage.objects.common import (
    MAX_KEY_BYTES,
    byte_view,
    joined,
    validate_key,
    validate_keys,
    validate_range,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

T = TypeVar("T")

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 16 * MiB
PART_SIZE = 8 * MiB
MAX_PARTS = 10_000  # S3's limit; larger objects get larger parts
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
MAX_IN_FLIGHT = 64
REQUEST_TIMEOUT = 30.0
CHECK_TIMEOUT = 5.0  # readiness probes answer quickly or fail
MAX_ATTEMPTS = 6
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0

_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_RETRIED_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
    }
)
_THROTTLING_CODES = frozenset(code for code in _RETRIED_CODES if "Throttl" in code or "Limit" in code) | {
    "SlowDown",
    "TooManyRequestsException",
}
_TRANSIENT = (HTTPClientError, BotoConnectionError, IncompleteReadError, aiohttp.ClientError, OSError, TimeoutError)


@dataclass
class OperationStats:
    """Counters of one S3 operation (PutObject, GetObject...): every attempt is one request."""

    requests: int = 0
    errors: int = 0  # attempts that failed (a missing key or an empty range is not an error)
    throttled: int = 0  # errors that were throttling (SlowDown, 503, 429...)
    retries: int = 0  # attempts that were repeats of a failed one
    seconds: float = 0.0  # summed latency of all attempts, from send to answer
    max_seconds: float = 0.0


@dataclass
class S3Stats:
    """Request counts, errors and latency per operation, plus bytes moved; plain numbers to export later."""

    operations: dict[str, OperationStats] = field(default_factory=dict)
    bytes_sent: int = 0
    bytes_received: int = 0
    in_flight: int = 0

    def operation(self, name: str) -> OperationStats:
        return self.operations.setdefault(name, OperationStats())


class _RetryableError(Exception):
    """Raised inside an attempt for a failure S3 reported in a 200 answer (DeleteObjects' Errors)."""


class S3ObjectStore:
    """Objects in `bucket` under `prefix` (key "k" is stored as "<prefix>/k").

    Puts up to `multipart_threshold` bytes are one PutObject; larger ones a multipart upload of
    `part_size` parts sent concurrently, aborted if any part fails. At most `max_in_flight` requests run
    at once (attempts waiting for a backoff hold no slot). The client is made on first use, on the
    running event loop, and released by close().
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        max_in_flight: int = MAX_IN_FLIGHT,
        request_timeout: float = REQUEST_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> None:
        if not bucket:
            raise ValueError("S3 bucket name is empty")
        prefix = prefix.strip("/")
        if prefix:
            try:
                validate_key(prefix)
            except ValueError as exc:
                raise ValueError(f"S3 key prefix {prefix!r} is not a valid key path: {exc}") from None
        if min(max_in_flight, max_attempts, multipart_threshold, part_size) < 1 or request_timeout <= 0:
            raise ValueError("S3 limits (in flight, attempts, sizes, timeout) must be positive")
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint = endpoint
        self.region = region
        self.stats = S3Stats()
        self._request_timeout = request_timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._multipart_threshold = multipart_threshold
        self._part_size = part_size
        self._slots = asyncio.Semaphore(max_in_flight)
        self._config = AioConfig(
            region_name=region,
            retries={"total_max_attempts": 1},  # our loop retries; see the module docstring
            connect_timeout=min(5.0, request_timeout),
            read_timeout=request_timeout,
            max_pool_connections=max_in_flight,
            # moto, MinIO and most S3-compatible services need path-style URLs (http://host/bucket/key).
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        self._session = get_session()
        self._session.register_component("data_loader", _shared_loader())
        self._stack: contextlib.AsyncExitStack | None = None
        self._client_: S3Client | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"S3ObjectStore(s3://{self.bucket}/{self.prefix}{where})"

    # -- the ObjectStore protocol -------------------------------------------------------------

    async def put(self, key: str, data: ObjectData) -> None:
        """Store `data` under `key`, replacing any object; returns once S3 has acknowledged it."""
        name = self._name(key)
        whole = joined(data)  # S3 takes one body, or one buffer cut into multipart parts: a list is joined
        view = byte_view(whole)
        if view.nbytes > self._multipart_threshold:
            await self._put_multipart(name, view)
            return
        # bytes are passed as they are; other buffers are copied once (botocore hashes and resends the body).
        body = whole if type(whole) is bytes else view.tobytes()
        await self._call("PutObject", lambda s3: s3.put_object(Bucket=self.bucket, Key=name, Body=body))
        self.stats.bytes_sent += len(body)

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """The bytes [start, end) of an object, cut short at its end; one ranged GetObject."""
        name = self._name(key)
        validate_range(start, end)
        if end is not None and end == start:
            # An empty range is no HTTP range at all; still tell a missing object from an empty read.
            await self._call("HeadObject", lambda s3: s3.head_object(Bucket=self.bucket, Key=name), key=key)
            return b""
        byte_range = None if start == 0 and end is None else f"bytes={start}-{'' if end is None else end - 1}"

        async def attempt(s3: S3Client) -> bytes:
            try:
                if byte_range is None:
                    response = await s3.get_object(Bucket=self.bucket, Key=name)
                else:
                    response = await s3.get_object(Bucket=self.bucket, Key=name, Range=byte_range)
            except ClientError as exc:
                if _code(exc) == "InvalidRange" or _status(exc) == 416:
                    return b""  # the range starts at or past the end (S3 checks existence first)
                raise
            async with response["Body"] as stream:
                return bytes(await stream.read())

        data = await self._call("GetObject", attempt, key=key)
        self.stats.bytes_received += len(data)
        return data

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete objects with DeleteObjects, 1000 keys a request; keys that name no object are ignored."""
        names = [self._name(key) for key in validate_keys(keys)]
        names = list(dict.fromkeys(names))
        batches = [names[i : i + DELETE_BATCH] for i in range(0, len(names), DELETE_BATCH)]
        await asyncio.gather(*(self._delete_batch(batch) for batch in batches))

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys starting with `prefix`, sorted; ListObjectsV2 page by page."""
        keys: builtins.list[str] = []
        token: str | None = None
        full = self.prefix + prefix
        while True:

            async def attempt(s3: S3Client, token: str | None = token) -> Any:
                if token is None:
                    return await s3.list_objects_v2(Bucket=self.bucket, Prefix=full)
                return await s3.list_objects_v2(Bucket=self.bucket, Prefix=full, ContinuationToken=token)

            page = await self._call("ListObjectsV2", attempt)
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                if _is_key(key):  # skip what is no key of ours, such as a console's "folder/" markers
                    keys.append(key)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
        keys.sort()
        return keys

    async def open(self) -> None:
        """Make the client now rather than at the first request (no request is sent).

        It loads botocore's S3 model, some 35,000 objects: a server loads it before it hides its
        start-up objects from the garbage collector (gc.freeze), or every full collection walks them.
        """
        await self._client()

    async def check(self) -> None:
        """Raise ObjectStoreUnavailableError unless one HeadBucket succeeds within CHECK_TIMEOUT seconds."""
        timeout = min(CHECK_TIMEOUT, self._request_timeout)
        await self._call("HeadBucket", lambda s3: s3.head_bucket(Bucket=self.bucket), attempts=1, timeout=timeout)

    async def close(self) -> None:
        """Close the client and its connections; later calls raise ObjectStoreUnavailableError."""
        self._closed = True
        async with self._opening:
            stack, self._stack, self._client_ = self._stack, None, None
            if stack is not None:
                await stack.aclose()

    # -- internals ----------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        name = self.prefix + validate_key(key)
        if len(name.encode()) > MAX_KEY_BYTES:
            raise ValueError(
                f"object key {key!r} under prefix {self.prefix!r} is longer than S3's {MAX_KEY_BYTES} bytes"
            )
        return name

    async def _client(self) -> S3Client:
        if self._closed:
            raise ObjectStoreUnavailableError(f"{self!r} is closed")
        if self._client_ is None:
            async with self._opening:
                if self._closed:
                    raise ObjectStoreUnavailableError(f"{self!r} is closed")
                if self._client_ is None:
                    stack = contextlib.AsyncExitStack()
                    creator = self._session.create_client("s3", endpoint_url=self.endpoint, config=self._config)
                    self._client_ = await stack.enter_async_context(creator)
                    self._stack = stack
        return self._client_

    async def _call(
        self,
        operation: str,
        attempt: Callable[[S3Client], Awaitable[T]],
        *,
        key: str | None = None,
        attempts: int = 0,
        timeout: float | None = None,
    ) -> T:
        """Run `attempt` until it succeeds, retrying transient failures; counts every request.

        If `key` is given, a 404 raises ObjectNotFoundError(key) (without one, a 404 is a missing bucket
        and so unavailability). `attempts` and `timeout` override the store's limits.
        """
        stats = self.stats.operation(operation)
        limit = attempts or self._max_attempts
        for number in range(1, limit + 1):
            try:
                client = await self._client()
            except (BotoCoreError, ValueError) as exc:  # no region, a malformed endpoint...
                raise ObjectStoreUnavailableError(f"cannot make an S3 client for {self!r}: {exc}") from exc
            async with self._slots:
                stats.requests += 1
                stats.retries += number > 1
                self.stats.in_flight += 1
                started = time.monotonic()
                try:
                    async with asyncio.timeout(timeout or self._request_timeout):
                        return await attempt(client)
                except ClientError as exc:
                    if key is not None and _code(exc) in _NOT_FOUND:
                        raise ObjectNotFoundError(key) from None
                    error: BaseException = exc
                    retried = _code(exc) in _RETRIED_CODES or _status(exc) >= 500 or _status(exc) == 429
                    stats.throttled += _code(exc) in _THROTTLING_CODES or _status(exc) in (429, 503)
                except (*_TRANSIENT, _RetryableError) as exc:
                    error, retried = exc, True
                except BotoCoreError as exc:  # no credentials, invalid parameters...
                    error, retried = exc, False
                finally:
                    elapsed = time.monotonic() - started
                    self.stats.in_flight -= 1
                    stats.seconds += elapsed
                    stats.max_seconds = max(stats.max_seconds, elapsed)
                stats.errors += 1
            if not retried or number == limit:
                tries = f" after {number} attempts" if number > 1 else ""
                detail = str(error) or type(error).__name__
                raise ObjectStoreUnavailableError(f"S3 {operation} on {self!r} failed{tries}: {detail}") from error
            await asyncio.sleep(random.uniform(0, min(self._backoff_cap, self._backoff_base * 2 ** (number - 1))))
        raise AssertionError("unreachable")

    async def _delete_batch(self, names: builtins.list[str]) -> None:
        objects: Any = [{"Key": name} for name in names]

        async def attempt(s3: S3Client) -> None:
            answer = await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
            failed = [error for error in answer.get("Errors", ()) if error.get("Code") != "NoSuchKey"]
            if failed:  # DeleteObjects is idempotent: repeat the whole batch
                first = failed[0]
                raise _RetryableError(
                    f"{len(failed)} keys not deleted, first {first.get('Key')!r}: {first.get('Code')}"
                )

        await self._call("DeleteObjects", attempt)

    async def _put_multipart(self, name: str, view: memoryview) -> None:
        created = await self._call(
            "CreateMultipartUpload", lambda s3: s3.create_multipart_upload(Bucket=self.bucket, Key=name)
        )
        upload_id = created["UploadId"]
        size = max(self._part_size, -(-view.nbytes // MAX_PARTS))
        parts = [view[offset : offset + size] for offset in range(0, view.nbytes, size)]
        try:
            tasks = [
                asyncio.ensure_future(self._upload_part(name, upload_id, number, part))
                for number, part in enumerate(parts, start=1)
            ]
            try:
                etags = await _all_or_nothing(tasks)
            finally:
                for task in tasks:
                    task.cancel()
            completed: Any = {"Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]}
            await self._call(
                "CompleteMultipartUpload",
                lambda s3: s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload=completed
                ),
            )
        except BaseException:
            # Parts of an upload never completed nor aborted are billed and kept forever.
            await asyncio.shield(self._abort(name, upload_id))
            raise

    async def _upload_part(self, name: str, upload_id: str, number: int, part: memoryview) -> str:
        body = part.tobytes()
        answer = await self._call(
            "UploadPart",
            lambda s3: s3.upload_part(Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body),
        )
        self.stats.bytes_sent += len(body)
        return answer["ETag"]

    async def _abort(self, name: str, upload_id: str) -> None:
        async def attempt(s3: S3Client) -> None:
            try:
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            except ClientError as exc:
                if _code(exc) != "NoSuchUpload":
                    raise

        # A failed abort leaves the parts to a bucket lifecycle rule (AbortIncompleteMultipartUpload).
        with contextlib.suppress(ObjectStoreUnavailableError):
            await self._call("AbortMultipartUpload", attempt)


@functools.cache
def _shared_loader() -> Loader:
    """botocore's loader of service models, shared so that each store does not parse S3's model again."""
    return create_loader()


async def _all_or_nothing(tasks: Sequence[asyncio.Future[T]]) -> builtins.list[T]:
    """The results of all tasks, or the first exception as soon as any task fails."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        error = task.exception()
        if error is not None:
            raise error
    return [task.result() for task in tasks]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _is_key(key: str) -> bool:
    try:
        validate_key(key)
    except ValueError:
        return False
    return True
