"""Object stores behind one Protocol, and the URL that picks one."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from storage.objects.base import ObjectNotFoundError, ObjectStore, ObjectStoreUnavailableError
from storage.objects.filesystem import FilesystemObjectStore, FsyncPolicy
from storage.objects.memory import MemoryObjectStore

__all__ = [
    "FilesystemObjectStore",
    "FsyncPolicy",
    "MemoryObjectStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "ObjectStoreUnavailableError",
    "open_object_store",
]

SUPPORTED_URLS = "memory://, file:///absolute/path or a plain folder path"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_object_store(url: str, fsync: str = "always") -> ObjectStore:
    """The store `url` names: memory://, file:///absolute/path or a plain folder path (fsync: always or never)."""
    try:
        policy = FsyncPolicy(fsync)
    except ValueError:
        choices = ", ".join(choice.value for choice in FsyncPolicy)
        raise ValueError(f"fsync policy {fsync!r} is not one of {choices}") from None
    scheme = _SCHEME.match(url)
    if scheme is None:
        if not url:
            raise ValueError(f"object store URL is empty; use {SUPPORTED_URLS}")
        return FilesystemObjectStore(url, policy)
    parts = urlsplit(url)
    name = scheme.group(1).lower()
    if name == "memory":
        if url.lower() != "memory://":
            raise ValueError(f"object store URL {url!r}: memory:// takes no host, path or query")
        return MemoryObjectStore()
    if name == "file":
        if parts.netloc not in ("", "localhost") or not parts.path or parts.query or parts.fragment:
            raise ValueError(f"object store URL {url!r}: a file URL is file:///absolute/path (three slashes)")
        return FilesystemObjectStore(unquote(parts.path), policy)
    raise ValueError(f"unsupported object store URL {url!r}: use {SUPPORTED_URLS} (s3:// is not supported yet)")
