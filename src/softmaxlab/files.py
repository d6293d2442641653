"""Atomic file output: a killed job never leaves a file that looks complete, and the
temporary files of killed writes are removed by the next write of the same file (and by
the workflow at its start, :func:`remove_temporaries`)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

# The names atomic_path and atomic_dir give their temporaries: "." + the target's name +
# "." + mkstemp's 8 random characters + ".tmp" (e.g. ".summary.csv.k3j_x0qa.tmp").
TEMPORARY_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")


def _mode(path: str, mode: int) -> None:
    """Give ``path`` the mode a plain open() or mkdir() would (mkstemp's is private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale(path) -> list[Path]:
    """Remove the temporaries of earlier, killed writes of ``path`` (only atomic_path's
    and atomic_dir's names for ``path``); returns them.

    Call only when no other process writes ``path``: in the workflow a file has one
    writer at a time, because Snakemake locks a job's outputs.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = []
    for candidate in path.parent.iterdir():
        match = TEMPORARY_NAME.fullmatch(candidate.name)
        if match and match["target"] == path.name:
            _remove(candidate)
            stale.append(candidate)
    return stale


def remove_temporaries(root, before: float) -> list[Path]:
    """Remove every temporary under ``root`` (atomic_path's and atomic_dir's names only)
    last modified before ``before`` (seconds since the epoch); returns them. The workflow
    passes the time the oldest running Snakemake in its folder started, so that no
    running job's temporary is touched."""
    removed = []
    for candidate in sorted(Path(root).rglob(".*.tmp")):
        if not TEMPORARY_NAME.fullmatch(candidate.name):
            continue
        try:
            stale = candidate.lstat().st_mtime < before
        except FileNotFoundError:  # inside a temporary folder removed a moment ago
            continue
        if stale:
            _remove(candidate)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    The rename is atomic on POSIX file systems (same directory), so readers see either the
    old file or the complete new one. Temporaries of earlier, killed writes of ``path`` are
    removed first (:func:`remove_stale`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    _mode(tmp, 0o666)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside ``path``; on success, replace ``path`` with it, so
    that the folder is whole or absent (never half written). Temporaries of earlier,
    killed writes are removed first, as in :func:`atomic_path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _mode(tmp, 0o777)
    try:
        yield Path(tmp)
        _remove(path)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
