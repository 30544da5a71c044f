"""Object stores behind one Protocol, and the URL that picks one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from streamhouse.storage.objects.base import ObjectNotFoundError, ObjectStore, ObjectStoreUnavailableError
from streamhouse.storage.objects.filesystem import FilesystemObjectStore, FsyncPolicy
from streamhouse.storage.objects.memory import MemoryObjectStore

if TYPE_CHECKING:
    from streamhouse.storage.objects.s3 import S3ObjectStore

__all__ = [
    "FilesystemObjectStore",
    "FsyncPolicy",
    "MemoryObjectStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "ObjectStoreUnavailableError",
    "is_folder_url",
    "open_object_store",
]

SUPPORTED_URLS = "memory://, file:///absolute/path, s3://bucket/prefix or a plain folder path"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_folder_url(url: str) -> bool:
    """Whether `url` names a folder (file:///path or a plain path), as open_object_store reads it."""
    scheme = _SCHEME.match(url)
    return scheme is None or scheme.group(1).lower() == "file"


def open_object_store(
    url: str,
    fsync: str = "always",
    *,
    s3_endpoint: str | None = None,
    s3_region: str = "us-east-1",
    pack_prefix: str | None = None,
) -> ObjectStore:
    """The store `url` names: memory://, file:///absolute/path, s3://bucket/prefix or a plain folder path.

    `fsync` (always or never) and `pack_prefix` (keys put into volume files, see FilesystemObjectStore)
    apply to folders. For s3:// URLs, `s3_endpoint` names an S3-compatible
    service (MinIO, moto; path-style addressing) instead of AWS, and credentials come from botocore's
    chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, ~/.aws, instance roles).
    """
    try:
        policy = FsyncPolicy(fsync)
    except ValueError:
        choices = ", ".join(choice.value for choice in FsyncPolicy)
        raise ValueError(f"fsync policy {fsync!r} is not one of {choices}") from None
    scheme = _SCHEME.match(url)
    if scheme is None:
        if not url:
            raise ValueError(f"object store URL is empty; use {SUPPORTED_URLS}")
        return FilesystemObjectStore(url, policy, pack_prefix)
    parts = urlsplit(url)
    name = scheme.group(1).lower()
    if name == "memory":
        if url.lower() != "memory://":
            raise ValueError(f"object store URL {url!r}: memory:// takes no host, path or query")
        return MemoryObjectStore()
    if name == "file":
        if parts.netloc not in ("", "localhost") or not parts.path or parts.query or parts.fragment:
            raise ValueError(f"object store URL {url!r}: a file URL is file:///absolute/path (three slashes)")
        return FilesystemObjectStore(unquote(parts.path), policy, pack_prefix)
    if name == "s3":
        return _open_s3(url, s3_endpoint, s3_region)
    raise ValueError(f"unsupported object store URL {url!r}: use {SUPPORTED_URLS}")


def _open_s3(url: str, endpoint: str | None, region: str) -> S3ObjectStore:
    # Imported here: aiobotocore and botocore take a while to import, and only S3 brokers need them.
    from streamhouse.storage.objects.s3 import S3ObjectStore

    parts = urlsplit(url)
    if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(f"object store URL {url!r}: an S3 URL is s3://bucket or s3://bucket/key/prefix")
    if endpoint:
        endpoint_parts = urlsplit(endpoint)
        if endpoint_parts.scheme not in ("http", "https") or not endpoint_parts.netloc:
            raise ValueError(f"S3 endpoint {endpoint!r} is not an http:// or https:// URL")
    return S3ObjectStore(parts.netloc, unquote(parts.path), endpoint=endpoint or None, region=region)
