"""numba's njit as every kernel uses it, with a disk cache that follows the kernels' code.

numba keys a kernel's disk cache on the text of the kernel's own file only (numba 0.68: a
SHA-256 of that file). A kernel that calls a helper of another file (softmaxlab.kernels.nll
calls softmaxlab.kernels.metrics' pairwise sums) or reads a constant of one (formats reads
softmaxlab.dtypes) would keep running the old helper's machine code after that file
changed: stale values, silently, in any checkout that had run before (a fresh clone
compiles fresh). So the kernels are cached in a folder named by one digest of every file
of this package and of the softmaxlab modules they import: changed code, new folder,
fresh compilation (about 20 s for every kernel of the sweep).

The folder is ``numba-<digest>`` under the first writable of: numba's own cache directory
when the user set one (NUMBA_CACHE_DIR), this package's ``__pycache__``, and
``$XDG_CACHE_HOME/softmaxlab`` (``~/.cache/softmaxlab``); with none writable the kernels
compile in every process, uncached, rather than fall back to numba's per-file stamps.
Each process that uses a folder marks it used (its mtime); the folders of other versions
not used for STALE_DAYS are deleted (about 3 MB each), so that a checkout whose kernels
change often does not collect them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from softmaxlab import provenance

try:
    import numba
except ImportError:  # a platform without numba wheels: callers use the numpy references
    numba = None

#: numba is importable: the compiled kernels can run.
AVAILABLE: bool = numba is not None

PACKAGE_DIR = Path(__file__).resolve().parent

#: A cache folder of another version of the kernels not used for this many days is deleted.
STALE_DAYS = 7
_FOLDER_NAME = re.compile(r"numba-[0-9a-f]{16}")


def source_files(folder: Path = PACKAGE_DIR) -> list[Path]:
    """The files a kernel's machine code depends on: every module of the kernels package
    in ``folder`` (by name), then every other softmaxlab module one of them imports (their
    constants and helpers are compiled in; by module name)."""
    own = sorted(folder.glob("*.py"))
    imported: dict[str, Path] = {}
    for path in own:
        for name in provenance.imported_names(path.read_text(encoding="utf-8")):
            in_package = name == __package__ or name.startswith(f"{__package__}.")
            found = None if in_package else provenance.module_file(name)
            if found is not None:
                imported[name] = found
    return own + [imported[name] for name in sorted(imported)]


def source_digest(folder: Path = PACKAGE_DIR) -> str:
    """One SHA-256 (16 hex digits) of the names and bytes of :func:`source_files`."""
    digest = hashlib.sha256()
    for path in source_files(folder):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


@functools.cache
def cache_dir() -> Path | None:
    """The folder the kernels are cached in (see the module's docstring), None if no
    candidate is writable."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    roots = [PACKAGE_DIR / "__pycache__", user_cache / "softmaxlab"]
    if numba is not None and numba.config.CACHE_DIR:
        roots.insert(0, Path(numba.config.CACHE_DIR))
    name = f"numba-{source_digest()}"
    folder = next((root / name for root in roots if _writable(root / name)), None)
    if folder is not None:
        os.utime(folder)  # used now
        prune_stale(folder)
    return folder


def prune_stale(folder: Path, now: float | None = None) -> list[Path]:
    """Delete the ``numba-<digest>`` folders beside ``folder`` (other versions of the kernels)
    last used more than STALE_DAYS before ``now`` (default: the current time); returns
    them. A folder another process still uses is marked at its start, so it is kept; one
    deleted under a process that has not run for a week costs that process a compilation
    (numba recompiles what it cannot load)."""
    cutoff = (time.time() if now is None else now) - STALE_DAYS * 86400
    stale = []
    for other in folder.parent.glob("numba-*"):
        if other == folder or not _FOLDER_NAME.fullmatch(other.name):
            continue  # only this module's folders: numba-<16 hex digits>
        try:
            if other.is_dir() and other.stat().st_mtime < cutoff:
                shutil.rmtree(other, ignore_errors=True)
                stale.append(other)
        except OSError:  # gone meanwhile (another process pruned it)
            continue
    return sorted(stale)


def jit(fn=None, *, inline: bool = False):
    """numba.njit with IEEE semantics (no fastmath) and numpy's error model, cached in
    :func:`cache_dir`; ``inline``: inlined by numba into its callers (inline="always").
    The plain Python function where numba is missing (callers run numpy references
    then). Usable as ``@jit`` and ``@jit(inline=True)``."""
    if fn is None:
        return functools.partial(jit, inline=inline)
    if numba is None:
        return fn
    options = {"error_model": "numpy", "fastmath": False}
    if inline:
        options["inline"] = "always"
    folder = cache_dir()
    if folder is None:
        return numba.njit(**options)(fn)
    # numba picks a function's cache folder when the decorator runs (a locator reading
    # numba.config.CACHE_DIR first): set it for this decoration only, so that other
    # code's numba caches stay where their owners put them.
    previous = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = str(folder)
    try:
        return numba.njit(cache=True, **options)(fn)
    finally:
        numba.config.CACHE_DIR = previous
