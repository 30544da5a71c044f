"""Rules every object store enforces the same way: valid keys, ranges and delete batches."""

from __future__ import annotations

from collections.abc import Sequence

from streamhouse.storage.objects.base import Buffer, ObjectData

# S3's limit, so that a key accepted by one backend is accepted by all of them.
MAX_KEY_BYTES = 1024


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise ValueError if it is not a valid object key.

    A key is a relative '/'-separated path of non-empty segments, none starting with '.' (this rules out
    '.', '..' and the filesystem store's temporary names), without NUL, at most 1024 bytes of UTF-8.
    """
    if not key:
        raise ValueError("object key is empty")
    if key.startswith("/"):
        raise ValueError(f"object key {key!r} is absolute; keys are relative paths")
    if "\0" in key:
        raise ValueError(f"object key {key!r} contains NUL")
    try:
        size = len(key.encode())
    except UnicodeEncodeError as exc:
        raise ValueError(f"object key {key!r} is not valid UTF-8 text") from exc
    if size > MAX_KEY_BYTES:
        raise ValueError(f"object key of {size} bytes is longer than {MAX_KEY_BYTES}")
    for segment in key.split("/"):
        if not segment:
            raise ValueError(f"object key {key!r} has an empty segment (a trailing or doubled '/')")
        if segment.startswith("."):
            raise ValueError(f"object key {key!r} has a segment starting with '.'")
    return key


def validate_range(start: int, end: int | None) -> None:
    """Raise ValueError unless 0 <= start and (end is None or start <= end)."""
    if start < 0:
        raise ValueError(f"range start {start} is negative")
    if end is not None and end < start:
        raise ValueError(f"range end {end} is before its start {start}")


def validate_keys(keys: Sequence[str]) -> list[str]:
    """Validate a delete batch before any of it is deleted."""
    # A str is a Sequence[str] to the type checker: delete("a/b") would delete "a", "/" and "b".
    if isinstance(keys, str):
        raise TypeError("delete takes a sequence of keys, not a single key")
    return [validate_key(key) for key in keys]


def byte_view(data: Buffer) -> memoryview:
    """A flat view of `data`'s bytes, for calls that count bytes (a non-contiguous view is copied)."""
    view = memoryview(data)
    return view.cast("B") if view.c_contiguous else memoryview(view.tobytes())


def byte_views(data: ObjectData) -> list[memoryview]:
    """An object's parts (one part unless `data` is a list) as flat byte views."""
    return [byte_view(part) for part in data] if isinstance(data, list) else [byte_view(data)]


def joined(data: ObjectData) -> Buffer:
    """An object as one buffer: a list of parts is joined (a copy), a buffer is returned as it is."""
    return b"".join(byte_views(data)) if isinstance(data, list) else data
