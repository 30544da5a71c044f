"""The behaviour every ObjectStore must have; test_object_stores.py runs it against each backend.

Ranges follow S3 (and Python slices): an end beyond the object gives the bytes there are, a start at or
beyond it gives b"". A negative start or an end before the start is a ValueError.
"""

from __future__ import annotations

import array
import asyncio
import random

import pytest

from streamhouse.storage.objects import ObjectNotFoundError, ObjectStore
from streamhouse.storage.objects.base import Buffer

INVALID_KEYS = [
    "",
    "/absolute",
    "/",
    "a//b",
    "a/",
    "..",
    "../escape",
    "a/../../escape",
    "a/./b",
    ".hidden",
    "a/.b.tmp",
    "nul\0byte",
    "surrogate\udc80",
    "k" * 1025,
]


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


class ObjectStoreContract:
    """Contract tests; a subclass named Test* runs them against the `store` fixture."""

    async def test_round_trip_bytes(self, store: ObjectStore) -> None:
        data = _data(1000)
        await store.put("one", data)
        assert await store.get("one") == data

    async def test_round_trip_memoryview_is_copied(self, store: ObjectStore) -> None:
        buffer = bytearray(b"..hello world..")
        await store.put("view", memoryview(buffer)[2:-2])
        buffer[2:7] = b"HELLO"
        assert await store.get("view") == b"hello world"

    async def test_memoryview_of_wider_items_stores_its_bytes(self, store: ObjectStore) -> None:
        numbers = array.array("I", [1, 2, 3, 0xFFFFFFFF])
        await store.put("ints", memoryview(numbers))
        assert await store.get("ints") == numbers.tobytes()

    async def test_non_contiguous_memoryview(self, store: ObjectStore) -> None:
        await store.put("strided", memoryview(b"abcdef")[::2])
        assert await store.get("strided") == b"ace"

    async def test_a_list_of_parts_is_stored_as_their_concatenation(self, store: ObjectStore) -> None:
        """Parts of every buffer kind, and more of them than one pwritev takes (IOV_MAX, 1024 on Linux)."""
        numbers = array.array("I", [1, 0xFFFFFFFF])
        mixed: list[Buffer] = [b"head", bytearray(b"-array-"), memoryview(b"..view..")[2:-2], b"", memoryview(numbers)]
        mixed.append(memoryview(b"abcdef")[::2])
        many: list[Buffer] = [_data(n % 7) for n in range(2500)]
        await store.put("mixed", mixed)
        await store.put("many", many)
        assert await store.get("mixed") == b"head-array-view" + numbers.tobytes() + b"ace"
        whole = b"".join(many)
        assert await store.get("many") == whole
        assert await store.get("many", 1000, 6000) == whole[1000:6000]

    async def test_an_empty_list_of_parts_is_an_empty_object(self, store: ObjectStore) -> None:
        await store.put("nothing", [])
        assert await store.get("nothing") == b""
        assert await store.list() == ["nothing"]

    async def test_empty_object(self, store: ObjectStore) -> None:
        await store.put("empty", b"")
        assert await store.get("empty") == b""
        assert await store.get("empty", 0, 10) == b""
        assert await store.list() == ["empty"]

    async def test_get_returns_bytes(self, store: ObjectStore) -> None:
        await store.put("typed", memoryview(bytearray(b"abc")))
        for result in (await store.get("typed"), await store.get("typed", 1, 2)):
            assert type(result) is bytes

    @pytest.mark.parametrize(
        ("start", "end", "expected"),
        [
            (0, None, b"0123456789"),
            (3, None, b"3456789"),
            (0, 4, b"0123"),
            (2, 5, b"234"),
            (9, 10, b"9"),
            (4, 4, b""),
            (0, 0, b""),
            (6, 100, b"6789"),
            (10, None, b""),
            (10, 12, b""),
            (20, 30, b""),
        ],
    )
    async def test_ranged_get(self, store: ObjectStore, start: int, end: int | None, expected: bytes) -> None:
        await store.put("digits", b"0123456789")
        assert await store.get("digits", start, end) == expected

    @pytest.mark.parametrize(("start", "end"), [(-1, None), (-1, 3), (5, 4)])
    async def test_invalid_range(self, store: ObjectStore, start: int, end: int | None) -> None:
        await store.put("digits", b"0123456789")
        with pytest.raises(ValueError, match="range"):
            await store.get("digits", start, end)

    async def test_put_replaces(self, store: ObjectStore) -> None:
        await store.put("replaced", b"a much longer first version")
        await store.put("replaced", b"short")
        assert await store.get("replaced") == b"short"
        assert await store.get("replaced", 3) == b"rt"
        assert await store.list() == ["replaced"]

    async def test_get_missing(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectNotFoundError):
            await store.get("missing")
        with pytest.raises(ObjectNotFoundError):
            await store.get("missing", 0, 10)

    async def test_a_prefix_of_a_key_is_no_object(self, store: ObjectStore) -> None:
        await store.put("dir/object", b"x")
        with pytest.raises(ObjectNotFoundError):
            await store.get("dir")
        with pytest.raises(ObjectNotFoundError):
            await store.get("dir/object/below")
        await store.delete(["dir", "dir/object/below"])
        assert await store.get("dir/object") == b"x"

    async def test_delete_batch_ignores_missing_keys(self, store: ObjectStore) -> None:
        for key in ("a", "b", "c/d", "c/e"):
            await store.put(key, key.encode())
        await store.delete(["a", "never-existed", "c/d", "x/y/z"])
        assert await store.list() == ["b", "c/e"]
        with pytest.raises(ObjectNotFoundError):
            await store.get("a")
        await store.delete(["a", "c/d"])
        await store.delete([])
        assert await store.list() == ["b", "c/e"]

    async def test_delete_then_put_again(self, store: ObjectStore) -> None:
        await store.put("deep/path/key", b"first")
        await store.delete(["deep/path/key"])
        assert await store.list() == []
        await store.put("deep/path/key", b"second")
        assert await store.get("deep/path/key") == b"second"

    async def test_delete_rejects_a_single_string(self, store: ObjectStore) -> None:
        await store.put("a", b"kept")
        with pytest.raises(TypeError):
            await store.delete("a")
        assert await store.get("a") == b"kept"

    async def test_list_prefixes_sorted(self, store: ObjectStore) -> None:
        # No key here is also a "directory" of another ("a" and "a/b"): the filesystem store cannot hold both.
        keys = ["flush/2/b", "topics/t/0/10.segment", "flush/1/a", "flush/12/c", "flush/1/b", "top", "flush/1x"]
        for key in keys:
            await store.put(key, b"x")
        assert await store.list() == sorted(keys)
        assert await store.list("flush/") == ["flush/1/a", "flush/1/b", "flush/12/c", "flush/1x", "flush/2/b"]
        assert await store.list("flush/1/") == ["flush/1/a", "flush/1/b"]
        assert await store.list("flush/1") == ["flush/1/a", "flush/1/b", "flush/12/c", "flush/1x"]
        assert await store.list("top") == ["top", "topics/t/0/10.segment"]
        assert await store.list("topics/t/0/10.segment") == ["topics/t/0/10.segment"]
        assert await store.list("nothing/") == []
        assert await store.list("flush/3") == []

    @pytest.mark.parametrize("prefix", ["/", "/flush", "../", "a//", "./a", "flush/1/a/"])
    async def test_list_prefix_no_key_can_have(self, store: ObjectStore, prefix: str) -> None:
        await store.put("flush/1/a", b"x")
        assert await store.list(prefix) == []

    async def test_nested_keys(self, store: ObjectStore) -> None:
        key = "topics/8d3c/17/00000000000000001234.segment"
        await store.put(key, b"segment")
        await store.put("topics/8d3c/17/index", b"sibling")
        assert await store.get(key) == b"segment"
        assert await store.list("topics/8d3c/") == [key, "topics/8d3c/17/index"]

    async def test_unicode_key(self, store: ObjectStore) -> None:
        await store.put("tópico/κλειδί/键", b"u")
        assert await store.get("tópico/κλειδί/键") == b"u"
        assert await store.list("tópico/") == ["tópico/κλειδί/键"]

    async def test_large_object(self, store: ObjectStore) -> None:
        data = _data(8 * 1024 * 1024, seed=8)
        await store.put("large", data)
        assert await store.get("large") == data
        middle = 3 * 1024 * 1024 + 17
        assert await store.get("large", middle, middle + 1024 * 1024) == data[middle : middle + 1024 * 1024]
        assert await store.get("large", len(data) - 5) == data[-5:]

    async def test_concurrent_puts(self, store: ObjectStore) -> None:
        objects = {f"flush/{n % 5}/{n:04d}.obj": _data(10_000 + n, seed=n) for n in range(50)}
        await asyncio.gather(*(store.put(key, data) for key, data in objects.items()))
        assert await store.list() == sorted(objects)
        results = await asyncio.gather(*(store.get(key) for key in objects))
        assert results == list(objects.values())

    async def test_concurrent_puts_to_one_key_leave_one_whole_version(self, store: ObjectStore) -> None:
        versions = [bytes([n]) * 100_000 for n in range(20)]
        await asyncio.gather(*(store.put("contended", data) for data in versions))
        assert await store.get("contended") in versions
        assert await store.list() == ["contended"]

    async def test_concurrent_puts_and_deletes_in_one_directory(self, store: ObjectStore) -> None:
        await asyncio.gather(
            *(store.put(f"churn/{n}", b"x") for n in range(20)),
            *(store.delete([f"churn/{n}"]) for n in range(0, 20, 2)),
        )
        await store.put("churn/last", b"y")
        assert await store.get("churn/last") == b"y"
        listed = await store.list("churn/")
        assert {f"churn/{n}" for n in range(1, 20, 2)} | {"churn/last"} <= set(listed)

    @pytest.mark.parametrize("key", INVALID_KEYS)
    async def test_invalid_keys(self, store: ObjectStore, key: str) -> None:
        with pytest.raises(ValueError):
            await store.put(key, b"x")
        with pytest.raises(ValueError):
            await store.get(key)
        with pytest.raises(ValueError):
            await store.delete(["valid", key])
        assert await store.list() == []

    async def test_longest_key(self, store: ObjectStore) -> None:
        key = "/".join(["k" * 200] * 5) + "/" + "k" * 19
        assert len(key) == 1024
        await store.put(key, b"x")
        assert await store.list() == [key]

    async def test_check(self, store: ObjectStore) -> None:
        await store.check()
        await store.put("a", b"x")
        await store.check()
        assert await store.list() == ["a"]

    async def test_close(self, store: ObjectStore) -> None:
        await store.put("a", b"x")
        await store.close()
