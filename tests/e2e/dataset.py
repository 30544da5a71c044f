"""Deterministic records for round-trip tests: keys, null keys, null values, headers, binary bytes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

PARTITIONS = 3


@dataclass(frozen=True)
class Sent:
    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default=())


def records(count: int, seed: int, printable: bool = False) -> list[Sent]:
    """`count` records spread over PARTITIONS; printable ones avoid bytes a line-based tool can't carry."""
    rng = random.Random(seed)

    def blob(size: int) -> bytes:
        if printable:
            return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size)).encode()
        return rng.randbytes(size)

    sent = []
    for index in range(count):
        key = None if index % 7 == 0 else blob(rng.randint(1, 16))
        # kafka-python refuses a record with neither key nor value, so a null value gets a key.
        value = None if index % 11 == 0 and key is not None else blob(rng.randint(0 if not printable else 1, 200))
        headers: tuple[tuple[str, bytes], ...] = ()
        if index % 3 == 0:
            # Line-based kcat sets headers per run, not per record: keep them the same there.
            headers = (
                (("trace", b"kcat"), ("n", b"0")) if printable else (("trace", blob(8)), ("n", str(index).encode()))
            )
        sent.append(Sent(index % PARTITIONS, key, value, headers))
    return sent


def by_partition(items: list[Sent]) -> dict[int, list[Sent]]:
    grouped: dict[int, list[Sent]] = {partition: [] for partition in range(PARTITIONS)}
    for item in items:
        grouped[item.partition].append(item)
    return grouped
