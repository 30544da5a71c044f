"""broker.allocator: large freed blocks stay in the heap for reuse instead of going back to the kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]

# In a fresh process (mallopt's settings are process-wide): a block of 8 MiB, then what malloc holds
# in mmapped blocks while it lives, and what the heap keeps free once it is freed.
PROBE = """
import ctypes, sys
from streamhouse.broker.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
applied = keep_freed_memory() if sys.argv[1] == "tuned" else None
block = bytearray(8 << 20)
mmapped = libc.mallinfo2().hblkhd
del block
print(applied, mmapped, libc.mallinfo2().fordblks)
"""

BLOCK = 8 << 20


def probe(mode: str) -> tuple[str, int, int]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, cwd=REPO)
    applied, mmapped, free = done.stdout.split()
    return applied, int(mmapped), int(free)


def test_large_blocks_come_from_the_heap_and_stay_there_once_freed() -> None:
    applied, mmapped, free = probe("tuned")
    assert applied == "True"
    assert mmapped < BLOCK  # the 8 MiB block was not an mmap of its own
    assert free >= BLOCK  # freed, it stays in the heap for the next one


def test_without_the_settings_glibc_maps_and_unmaps_such_a_block() -> None:
    """The control: what the settings change (so the test above can fail)."""
    applied, mmapped, free = probe("default")
    assert applied == "None"
    assert mmapped >= BLOCK
    assert free < BLOCK
