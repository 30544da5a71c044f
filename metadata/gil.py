"""Long loops in worker threads that run beside the event loop."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def sharing_the_gil(items: Iterable[T], every: int = 100) -> Iterator[T]:
    """`items`, with the GIL let go after each `every` of them: while a thread holds it, the event loop
    waits up to the interpreter's switch interval (5 ms) each time it takes it back, on every turn."""
    for count, item in enumerate(items, 1):
        yield item
        if count % every == 0:
            time.sleep(0)
