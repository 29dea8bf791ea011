"""The images of a batch run: every image file under a folder, or the paths listed in a Parquet or CSV file."""

from __future__ import annotations

import csv
import os
from pathlib import Path

LIST_COLUMNS = ("path", "source")


class SourceError(ValueError):
    """SRC is not a folder or a readable list of paths; the message names it."""


def list_sources(src: str | os.PathLike) -> list[str]:
    """Absolute paths of the images of ``src``: a folder (recursive; hidden files and folders skipped;
    by suffix) or a ``.parquet`` / ``.csv`` file with a ``path`` (or ``source``) column, or one column
    (a CSV without a header too); relative paths in a list are relative to the list's folder."""
    from ..imaging import is_image_path

    p = Path(src)
    if p.is_dir():
        return [
            os.path.abspath(f) for f in sorted(p.rglob("*"))
            if f.is_file() and is_image_path(f) and not any(s.startswith(".") for s in f.relative_to(p).parts)
        ]
    if not p.is_file():
        raise SourceError(f"{src}: no such folder or file")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        paths = _parquet_paths(p)
    elif suffix == ".csv":
        paths = _csv_paths(p)
    else:
        raise SourceError(f"{src}: give a folder, or a list of paths as .parquet or .csv")
    base = p.parent
    return [os.path.abspath(base / s) for s in paths if s]


def _parquet_paths(p: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except Exception as e:  # pyarrow raises several kinds for a bad file
        raise SourceError(f"{p}: not a readable Parquet file ({e})") from e
    names = [c for c in LIST_COLUMNS if c in table.column_names] or (table.column_names if table.num_columns == 1 else [])
    if not names:
        raise SourceError(f"{p}: no 'path' or 'source' column (columns: {', '.join(table.column_names)})")
    return [str(v) for v in table.column(names[0]).to_pylist() if v is not None]


def _csv_paths(p: Path) -> list[str]:
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{p}: not a readable CSV file ({e})") from e
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    col = next((header.index(c) for c in LIST_COLUMNS if c in header), None)
    if col is not None:
        return [r[col].strip() for r in rows[1:] if len(r) > col]
    if len(header) == 1:  # no header: one path per line
        return [r[0].strip() for r in rows]
    raise SourceError(f"{p}: no 'path' or 'source' column in the header ({', '.join(rows[0])})")
