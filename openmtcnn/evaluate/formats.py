"""The text block format that WIDER FACE submissions and FDDB files share.

One block per image::

    NAME
    COUNT
    v1 v2 v3 ...      (COUNT lines of numbers)

WIDER FACE writes one block per file (``EVENT/NAME.txt``, lines ``x y w h
score``); FDDB writes all the blocks of a fold in one file (detections
``x y w h score``, annotations ``major minor angle cx cy 1``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..datasets import FormatError  # noqa: F401  (raised here for the block format)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``x1 y1 x2 y2`` (our convention, width ``x2 - x1``) -> ``x y w h`` as the benchmarks' files hold them."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``x y w h`` as the benchmarks' files hold them -> ``x1 y1 x2 y2`` (our convention): the inverse of :func:`xyxy_to_xywh`."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([b[:, :2], b[:, :2] + b[:, 2:]])


def detections_xywhs(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Detector output (``x1 y1 x2 y2`` boxes and scores) -> ``(N, 5)`` rows ``x y w h score``."""
    return np.column_stack([xyxy_to_xywh(boxes), np.asarray(scores, dtype=np.float64).reshape(-1)])


def format_block(name: str, rows: np.ndarray, box_decimals: int = 2, score_decimals: int = 8) -> str:
    """One block: the name, the count, then ``x y w h score`` lines (score with more digits: it is ranked)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    lines = [name, str(len(rows))]
    for x, y, w, h, s in rows:
        lines.append(f"{x:.{box_decimals}f} {y:.{box_decimals}f} {w:.{box_decimals}f} {h:.{box_decimals}f} {s:.{score_decimals}f}")
    return "\n".join(lines) + "\n"


def parse_blocks(text: str, source: str | os.PathLike, columns: int = 5) -> Iterator[tuple[str, np.ndarray]]:
    """Read consecutive blocks from ``text``; yields ``(name, (COUNT, columns) float array)``.

    Lines may carry more numbers than ``columns`` (the extra ones are dropped,
    as the official readers do); fewer, a bad count or a short block raise
    :class:`FormatError` naming ``source`` and the line.
    """
    lines = text.splitlines()
    i, n = 0, len(lines)
    while i < n:
        name = lines[i].strip()
        if not name:  # blank lines between blocks are tolerated
            i += 1
            continue
        if i + 1 >= n:
            raise FormatError(f"{source}:{i + 1}: block for {name!r} has no count line")
        try:
            count = int(float(lines[i + 1].strip()))
        except ValueError:
            raise FormatError(f"{source}:{i + 2}: expected the number of faces for {name!r}, got {lines[i + 1]!r}") from None
        if count < 0:
            raise FormatError(f"{source}:{i + 2}: negative face count {count} for {name!r}")
        rows = np.zeros((count, columns))
        for k in range(count):
            ln = i + 2 + k
            if ln >= n:
                raise FormatError(f"{source}: block for {name!r} announces {count} faces but has only {k}")
            parts = lines[ln].replace(",", " ").split()
            try:
                vals = [float(p) for p in parts[:columns]]
            except ValueError:
                raise FormatError(f"{source}:{ln + 1}: not numbers: {lines[ln]!r}") from None
            if len(vals) < columns:
                raise FormatError(f"{source}:{ln + 1}: expected {columns} numbers, got {len(vals)}: {lines[ln]!r}")
            rows[k] = vals
        yield name, rows
        i += 2 + count


def read_blocks(path: str | os.PathLike, columns: int = 5) -> list[tuple[str, np.ndarray]]:
    """All blocks of a file (see :func:`parse_blocks`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise FormatError(f"{p}: cannot read ({e})") from e
    return list(parse_blocks(text, p, columns))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a file so that it either appears complete or not at all (a killed run leaves no half file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_blocks(path: str | os.PathLike, blocks: Iterable[tuple[str, np.ndarray]]) -> None:
    """Write ``(name, rows x y w h score)`` blocks to one file (FDDB layout)."""
    write_text_atomic(path, "".join(format_block(name, rows) for name, rows in blocks))
