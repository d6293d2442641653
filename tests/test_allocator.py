"""softmaxlab.allocator: freed temporaries are reused instead of faulted in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# A child process: optionally tune, then time page faults over repeated 4 MiB temporaries
# (the size of a block of metric values), as the sweep's blocks make them.
CHILD = """
import resource, sys
import numpy as np
from softmaxlab import allocator
tuned = allocator.keep_freed_memory() if sys.argv[1] == "tune" else None
values = np.random.default_rng(0).random((1000, 512))
np.where(values > 0.5, values - 0.5, 0.0)  # numpy's own first-use costs
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    np.where(values > 0.5, values - 0.5, 0.0)
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    )
    tuned, faults = result.stdout.split()
    return tuned, int(faults)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_freed_temporaries_are_reused():
    """Untuned, each of the 50 rounds faults its 4 MiB temporaries in again (about 1000
    pages a round: 3 arrays, one of them bool); tuned, the pages are reused."""
    untuned_flag, untuned = _faults("plain")
    tuned_flag, tuned = _faults("tune")
    assert (untuned_flag, tuned_flag) == ("None", "True")
    assert untuned > 50 * 500, untuned
    assert tuned < untuned / 10, (tuned, untuned)


def test_not_glibc_is_a_no_op(monkeypatch):
    from softmaxlab import allocator

    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert allocator.keep_freed_memory() is False
