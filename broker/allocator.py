"""How the broker's process asks glibc's malloc to manage memory.

glibc gives large freed blocks back to the kernel: a block above a sliding threshold (128 KiB
to 32 MiB) is its own mmap, unmapped when freed, and the heap is trimmed once 128 KiB at its top is
free. So each flush object (up to flush.bytes) and each batch copied into the tail cache came from
pages the kernel had to fault in afresh, and on a VM a fresh page costs system CPU. Serving large
blocks from the heap and keeping up to 256 MiB of freed heap for reuse saves those page faults
(docs/performance.md). Peak RSS does not grow: the memory kept is memory the broker held at its peak.
"""

from __future__ import annotations

import ctypes

# mallopt's parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # the largest glibc takes on 64-bit: blocks up to it come from the heap
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024  # freed heap kept for reuse before it goes back to the kernel


def keep_freed_memory() -> bool:
    """Apply the settings above; False where the C library has no mallopt (musl) or refuses them."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
