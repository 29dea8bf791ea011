"""Where the inputs of a run come from: image files, folders (recursive), videos, streams, cameras.

:func:`collect_inputs` turns command-line style arguments into :class:`Input` items, each with
the name it is reported by and a collision-free relative path for its output files;
:func:`crop_stems` names the crop files of images that would otherwise share one.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..imaging import IMAGE_SUFFIXES, is_image_path
from ..video import is_stream_url, is_video_path


class InputError(ValueError):
    """An argument that names no input (a path that does not exist); the message names it."""


@dataclass
class Input:
    """One input: ``kind`` is "image", "video" or "stream" (a URL or camera); ``source`` is what is
    opened (the path as given, URL, camera index), ``name`` how it is reported, ``rel`` its output path."""

    kind: str
    source: str | int
    name: str
    rel: Path


@dataclass
class Inputs:
    """What the arguments expand to: the inputs in order, the non-image files skipped in
    folders, and the folders that held no image, ``(name, message)`` (each an error of the run)."""

    items: list[Input]
    ignored: int = 0
    empty_folders: list[tuple[str, str]] = field(default_factory=list)

    @property
    def images(self) -> list[Input]:
        return [it for it in self.items if it.kind == "image"]


def _folder_files(folder: Path) -> tuple[list[Path], int]:
    """Image files under ``folder`` (recursive, sorted, hidden files and folders skipped) and the count of other files."""
    images, other = [], 0
    for f in sorted(folder.rglob("*")):
        if any(s.startswith(".") for s in f.relative_to(folder).parts) or not f.is_file():
            continue
        if is_image_path(f):
            images.append(f)
        else:
            other += 1
    return images, other


def collect_inputs(paths: list[str], camera: int | None = None) -> Inputs:
    """Expand the arguments into inputs (folders recursively) with collision-free output paths.

    A path that does not exist raises :class:`InputError`; a folder without images is listed in
    ``empty_folders``. The same file given twice is one input.
    """
    found: list[tuple[str, str, str]] = []  # (kind, shown name, absolute path); streams keep their URL
    roots: list[str] = []
    result = Inputs([])
    for arg in paths:
        if is_stream_url(arg):
            found.append(("stream", arg, ""))
            continue
        p = Path(arg)
        if not p.exists():
            raise InputError(f"{arg}: no such file or folder")
        if p.is_dir():
            roots.append(os.path.abspath(p))
            images, other = _folder_files(p)
            result.ignored += other
            if not images:
                what = f"{other} other file{'s' * (other != 1)}, " if other else ""
                result.empty_folders.append((arg, f"{arg}: no images in this folder ({what}looked for {', '.join(sorted(IMAGE_SUFFIXES))})"))
            found += [("image", str(f), os.path.abspath(f)) for f in images]
        else:
            roots.append(os.path.dirname(os.path.abspath(p)))
            found.append(("video" if is_video_path(p) else "image", arg, os.path.abspath(p)))
    root = os.path.commonpath(roots) if roots else os.getcwd()

    seen: set[str] = set()
    for kind, name, ap in found:
        key = ap or name
        if key in seen:
            continue
        seen.add(key)
        if kind == "stream":
            rel = Path("stream_" + re.sub(r"[^A-Za-z0-9._-]+", "_", name.split("://", 1)[1]).strip("_")[:80])
            result.items.append(Input("stream", name, name, rel))
        else:
            result.items.append(Input(kind, name, name, Path(os.path.relpath(ap, root))))
    if camera is not None:
        result.items.append(Input("stream", camera, f"camera:{camera}", Path(f"camera{camera}")))
    return result


def crop_stems(items: list[Input]) -> dict[str, Path]:
    """Per image, the stem of its crop files: its relative path without suffix, or with the
    suffix folded in (``a_jpg``) where two images would share one (``a.jpg``, ``a.png``)."""
    images = [it for it in items if it.kind == "image"]
    counts = Counter(it.rel.with_suffix("") for it in images)
    return {
        it.name: it.rel.with_suffix("") if counts[it.rel.with_suffix("")] == 1 else it.rel.with_name(it.rel.name.replace(".", "_"))
        for it in images
    }
