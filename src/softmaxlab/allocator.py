"""glibc's allocator set to keep the memory that numpy's temporaries free, for the jobs
that evaluate methods block after block (the sweep's shards, the claim checks).

Every numpy operation on a block of a few hundred KiB to a few MiB allocates its result
and frees it soon after. glibc serves such sizes by mmap and hands them back to the
kernel on free (its thresholds adapt only up to a point), so the next block's
temporaries fault their pages in again: on this project's 2-core virtual machine
14,000 page faults for one float64 and one float32 cell group at K = 1000, and 3.6 ms
instead of 0.6 ms for a np.where over a 1000 x 704 block of metric values. With mmap
reserved for allocations above 32 MiB and the heap trimmed only when 1 GiB of it is
free, freed temporaries are reused: 2,300 faults, and the sweep's CPU time per
(logit, method) about 6% lower at K = 1000 (float64 cells about 13% lower). A job's peak memory is
unchanged: what is kept is what it had already used.

A no-op (False) where the C library is not glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt's parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations above this size are still served by mmap (and returned on free). 32 MiB
#: is glibc's largest allowed value on 64-bit systems.
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of the heap is returned to the kernel only beyond this.
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (module docstring) for this process. True when
    both were set; False where the C library is not glibc or refused a value."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
