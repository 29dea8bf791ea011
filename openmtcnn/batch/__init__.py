"""Batch runs (`openmtcnn batch`): every image of a folder or list -> rows of Parquet files; resumable.

:func:`run_batch` lists the sources (:mod:`.sources`), skips those already written under DST
(:mod:`.store`), and detects the rest on the local worker processes
(:func:`openmtcnn.detect_files`) or on Ray Data (:mod:`.onray`). Needs the ``batch`` extra (pyarrow; ray for Ray).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..config import DetectConfig
from .sources import SourceError, list_sources
from .store import PartWriter, done_sources, read_rows, result_row, schema, write_part

__all__ = ["BatchSummary", "SourceError", "list_sources", "read_rows", "result_row", "run_batch", "schema", "write_part"]


@dataclass
class BatchSummary:
    """What a run did: sources found, skipped (already in DST), written now, and how many of those failed."""

    found: int
    skipped: int
    written: int
    failed: int
    faces: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def run_batch(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    weights: str | None = None,
    config: DetectConfig | None = None,
    jobs: int | None = None,
    threads: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    rows_per_part: int = 256,
    progress: Callable[[int], Any] | None = None,
) -> BatchSummary:
    """Detect faces in every image of ``src`` not yet in ``dst``; rows go to Parquet parts under ``dst``.

    ``jobs``: worker processes (local) or Ray actors (default: the CPUs here, or of the Ray cluster).
    ``use_ray``: run on Ray Data, on the cluster at ``ray_address`` (``None``: an already started Ray,
    ``$RAY_ADDRESS``, else a local one). ``progress(n)``: ``n`` more sources are dealt with (those
    skipped first, then as rows are written).
    """
    t0 = time.perf_counter()
    config = config or DetectConfig()
    sources = list_sources(src)
    done = done_sources(dst)
    todo = [s for s in dict.fromkeys(sources) if s not in done]
    skipped = len(sources) - len(todo)
    progress = progress or (lambda n: None)
    progress(skipped)
    if use_ray:
        from .onray import run_on_ray

        written, failed, faces = run_on_ray(todo, dst, weights, config, jobs, threads, ray_address, rows_per_part, progress)
    else:
        written, failed, faces = _run_local(todo, dst, weights, config, jobs, threads, rows_per_part, progress)
    return BatchSummary(len(sources), skipped, written, failed, faces, time.perf_counter() - t0)


def _run_local(todo: list[str], dst: Any, weights: str | None, config: DetectConfig, jobs: int | None, threads: int,
               rows_per_part: int, progress: Callable[[int], Any]) -> tuple[int, int, int]:
    """Worker processes of :func:`openmtcnn.detect_files`; this process writes the parts."""
    from ..detect.parallel import detect_files

    writer = PartWriter(dst, rows_per_part)
    written = failed = faces = 0
    results = detect_files(todo, weights, config, jobs=jobs, threads=threads, ordered=False)
    try:
        for r in results:
            writer.add([result_row(r.path, r.result, r.error)])
            written += 1
            failed += r.error is not None
            faces += len(r.result) if r.result is not None else 0
            progress(1)
    finally:
        results.close()
        writer.flush()  # what is done is kept, also when the run stops early
    return written, failed, faces
