"""Figure captions as files: the figure job writes one next to its figure, the report reads it.

A caption file ``results/figures/{figure}.caption.md`` is Markdown-shaped plain text: the
title on the first line after ``# ``, then the caption's paragraphs separated by blank
lines. It is written from the very data the figure was drawn from, so the report needs no
plotting code (and imports none) to say what a figure shows. The text is not markup: the
report escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from softmaxlab.files import atomic_path

__all__ = ["Caption", "caption_path", "read_caption", "write_caption"]

SUFFIX = ".caption.md"


@dataclass(frozen=True)
class Caption:
    """A figure's title and its caption (paragraphs separated by blank lines)."""

    title: str
    text: str

    @property
    def paragraphs(self) -> list[str]:
        """The caption's paragraphs, each on one line."""
        parts = (" ".join(p.split()) for p in self.text.split("\n\n"))
        return [p for p in parts if p]


def caption_path(figure_path: str | Path) -> Path:
    """Where the caption of a figure file lives: ``x.svg`` -> ``x.caption.md``."""
    path = Path(figure_path)
    return path.with_name(path.name.split(".", 1)[0] + SUFFIX)


def write_caption(path: str | Path, caption: Caption) -> None:
    """Write ``caption`` to ``path`` atomically (UTF-8, LF line ends)."""
    title = " ".join(caption.title.split())
    if not title:
        raise ValueError("a caption needs a non-empty title")
    body = "\n\n".join(caption.paragraphs)
    with atomic_path(path) as tmp:
        tmp.write_bytes(f"# {title}\n\n{body}\n".encode())


def read_caption(path: str | Path) -> Caption:
    """The caption in ``path``; a ValueError names the file if it is not a caption file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if not first.startswith("# ") or not first[2:].strip():
        raise ValueError(f"{path}: a caption file starts with '# <title>', got {first[:60]!r}")
    return Caption(title=first[2:].strip(), text=rest.strip())
