"""Code is an input: the library modules a workflow script runs, and a hash of their text.

Snakemake reruns a job when its script changes, but not when a module the script imports
changes. The workflow gives each rule a param holding :func:`code_version` of its script:
a digest per module the script imports from softmaxlab, directly or through other
modules. Snakemake stores a job's params and reruns the job when they differ (its default
rerun triggers include ``params``), so an edit to a module reruns exactly the jobs whose
scripts import it, and their downstream jobs through their newer inputs.

Imports are found by reading the source (``ast``), never by executing it: ``import a.b``,
``from a import b`` (b a module or a name), relative imports, and
``importlib.import_module("a.b")`` with a literal name, wherever they occur in a module
(also inside functions). Importing a submodule runs its package's ``__init__``, so that
counts as imported too. The files are those of the installed package, wherever it was
installed from (editable or not).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

PACKAGE = "softmaxlab"
DIGEST_CHARS = 16


@functools.cache
def package_dir() -> Path:
    """The installed PACKAGE's folder (found, not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package {PACKAGE!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` if it is one of PACKAGE's, else None (a name
    that is not a module, e.g. ``softmaxlab.normalize``, or another package's). Found from
    the file layout, so that nothing is imported."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    folder = package_dir().joinpath(*parts[1:])
    for path in (folder / "__init__.py", folder.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _parents(name: str) -> list[str]:
    """``a.b.c`` -> [``a``, ``a.b``, ``a.b.c``]: importing a module runs its packages."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _resolve_relative(module: str | None, level: int, current: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` inside ``current``."""
    if level == 0:
        return module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imported_names(source: str, current: str = "", is_package: bool = False) -> set[str]:
    """Every module name that ``source`` may import (candidates: names that are not modules,
    such as ``from pkg import function``, are filtered out by the caller)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(node.module, node.level, current, is_package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return {parent for name in names if name for parent in _parents(name)}


def library_modules(script) -> dict[str, Path]:
    """module name -> source file, for every PACKAGE module that ``script`` imports,
    directly or transitively."""
    found: dict[str, Path] = {}
    todo = [(Path(script), "", False)]
    while todo:
        path, current, is_package = todo.pop()
        for name in sorted(_file_imports(path, current, is_package, *_stamp(path))):
            if name in found:
                continue
            module = module_file(name)
            if module is None:
                continue
            found[name] = module
            todo.append((module, name, module.name == "__init__.py"))
    return dict(sorted(found.items()))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@functools.cache
def _file_imports(
    path: Path, current: str, is_package: bool, mtime_ns: int, size: int
) -> frozenset[str]:
    """imported_names of a file, parsed once per version of it (the stamp): the workflow
    asks for a dozen scripts whose imports share most modules (2.9 s of Snakemake's start
    when each script parsed them again)."""
    return frozenset(imported_names(path.read_text(encoding="utf-8"), current, is_package))


def package_data(package_init: Path) -> dict[str, Path]:
    """``package:relative/path`` -> file, for the data files of the package whose
    ``__init__.py`` is ``package_init`` (e.g. report templates read with
    importlib.resources): files that are not Python source, in its folder and in its
    subfolders that are not packages themselves (those count when they are imported)."""
    root = package_init.parent
    package = ".".join([PACKAGE, *root.relative_to(package_dir()).parts])
    found: dict[str, Path] = {}
    folders = [root]
    while folders:
        folder = folders.pop()
        for path in sorted(folder.iterdir()):
            if path.is_dir():
                if path.name != "__pycache__" and not (path / "__init__.py").is_file():
                    folders.append(path)
            elif path.suffix not in (".py", ".pyc"):
                found[f"{package}:{path.relative_to(root).as_posix()}"] = path
    return found


@functools.cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:DIGEST_CHARS]


@functools.cache
def code_version(script) -> dict[str, str]:
    """name -> digest of its bytes, for the script itself (key ``script``), every library
    module it imports (directly or transitively) and the data files of the packages among
    them. A plain, sorted dict: Snakemake stores it as a param.

    Cached for the run: the workflow calls it once per rule, not once per job.
    """
    files = library_modules(script)
    for path in list(files.values()):
        if path.name == "__init__.py":
            files.update(package_data(path))
    versions = {"script": _file_digest(Path(script))}
    versions.update({name: _file_digest(path) for name, path in sorted(files.items())})
    return versions
