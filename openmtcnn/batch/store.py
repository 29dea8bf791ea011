"""The Parquet rows of a batch run and their part files: one row per image, parts written atomically.

A part is written to a hidden temporary file and renamed into place (``part-<hash>.parquet``), so a
killed run leaves only whole parts; the next run reads the sources already there and skips them.
A part's name is a hash of its sources: a batch written twice (a retried Ray task) replaces itself.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

PART_GLOB = "part-*.parquet"
TEMP_PREFIX = ".part-"


def schema() -> Any:
    """``source``, ``width``, ``height``, ``faces`` (list of ``box`` [x1, y1, x2, y2], ``score``,
    ``landmarks`` [[x, y] x 5: left eye, right eye, nose, left and right mouth corner]), ``error``."""
    import pyarrow as pa

    face = pa.struct([
        ("box", pa.list_(pa.float32(), 4)),
        ("score", pa.float32()),
        ("landmarks", pa.list_(pa.list_(pa.float32(), 2), 5)),
    ])
    return pa.schema([
        ("source", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
        ("faces", pa.list_(face)), ("error", pa.string()),
    ])


def result_row(source: str, result: Any = None, error: str | None = None) -> dict[str, Any]:
    """One image's row from its :class:`~openmtcnn.DetectResult`, or from the error that stopped it."""
    if result is None:
        return {"source": source, "width": None, "height": None, "faces": None, "error": error or "no result"}
    faces = [
        {"box": b.tolist(), "score": float(s), "landmarks": lm.tolist()}
        for b, s, lm in zip(np.asarray(result.boxes, np.float32), np.asarray(result.scores, np.float32), np.asarray(result.landmarks, np.float32))
    ]
    w, h = result.image_size
    return {"source": source, "width": int(w), "height": int(h), "faces": faces, "error": None}


def write_part(dst: str | os.PathLike, rows: list[dict[str, Any]]) -> Path | None:
    """Write ``rows`` as one part file under ``dst`` (temporary file, then an atomic rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        return None
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1("\n".join(sorted(r["source"] for r in rows)).encode()).hexdigest()[:20]
    final = dst / f"part-{digest}.parquet"
    temp = dst / f"{TEMP_PREFIX}{digest}.{os.getpid()}.tmp"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema()), temp)
    os.replace(temp, final)
    return final


def done_sources(dst: str | os.PathLike) -> set[str]:
    """The sources already written under ``dst``; temporary files of a killed run are removed."""
    import pyarrow.parquet as pq

    dst = Path(dst)
    if not dst.is_dir():
        return set()
    for stale in dst.glob(TEMP_PREFIX + "*.tmp"):
        stale.unlink(missing_ok=True)
    done: set[str] = set()
    for part in sorted(dst.glob(PART_GLOB)):
        done.update(pq.read_table(part, columns=["source"]).column("source").to_pylist())
    return done


def read_rows(dst: str | os.PathLike) -> Any:
    """Every row under ``dst`` as one pyarrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(Path(dst).glob(PART_GLOB))
    return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else schema().empty_table()


class PartWriter:
    """Collects rows and writes a part every ``rows_per_part`` rows (and the rest on :meth:`flush`)."""

    def __init__(self, dst: str | os.PathLike, rows_per_part: int):
        self.dst, self.rows_per_part = dst, rows_per_part
        self.rows: list[dict[str, Any]] = []

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= self.rows_per_part:
            self.flush()

    def flush(self) -> None:
        write_part(self.dst, self.rows)
        self.rows = []
