"""Many images on all cores: worker processes, each with its own single-threaded detector.

The nets are small: one image keeps one core busy at best (ONNX Runtime's intra-op
threads mostly wait on each other for such nets; a detector's own thread pool, ``threads``,
leaves serial parts between the stages; see docs/speed.md), so a folder goes fastest with
one process per core, each running whole images. :func:`worker_map` is
the generic part (used by ``openmtcnn detect`` and ``openmtcnn evaluate widerface``);
:func:`detect_files` runs the detector over image files with it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..config import DetectConfig
from .result import DetectResult


class WorkerError(RuntimeError):
    """A worker could not set itself up (e.g. the weights do not load); the run cannot go on."""


_STATE: dict[str, Any] = {}


def _call(job: tuple[Callable[[], Any], Callable[[Any, Any], Any], Any]) -> tuple[bool, Any]:
    """In a worker: build the state once (``factory()``), then ``fn(state, item)``."""
    factory, fn, item = job
    if "state" not in _STATE:
        import cv2

        cv2.setNumThreads(1)  # one core per worker: OpenCV's own threads would compete with the other workers
        try:
            _STATE["state"] = factory()
        except Exception as e:  # reported to the parent, which stops the run (no endless respawning)
            return False, f"{type(e).__name__}: {e}"
    return True, fn(_STATE["state"], item)


def default_jobs() -> int:
    """Worker processes to use by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def worker_map(
    factory: Callable[[], Any],
    fn: Callable[[Any, Any], Any],
    items: Iterable[Any],
    jobs: int = 1,
    *,
    ordered: bool = True,
) -> Iterator[Any]:
    """``fn(state, item)`` for every item, with ``state = factory()`` made once per process.

    ``jobs`` <= 1 runs in this process. Otherwise ``jobs`` spawned worker processes
    (``factory`` and ``fn`` must pickle: module-level functions or picklable objects);
    results come in item order (``ordered``) or as they finish. ``fn`` should catch
    its own per-item errors and return them; an exception in ``factory`` raises
    :class:`WorkerError` here. Abandoning the iterator stops the workers.
    """
    if jobs <= 1:
        state = None
        for item in items:
            if state is None:
                state = factory()
            yield fn(state, item)
        return
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(jobs)
    try:
        jobs_iter = ((factory, fn, item) for item in items)
        results = pool.imap(_call, jobs_iter, chunksize=1) if ordered else pool.imap_unordered(_call, jobs_iter, chunksize=1)
        for ok, value in results:
            if not ok:
                raise WorkerError(value)
            yield value
    finally:
        pool.terminate()
        pool.join()


@dataclass(frozen=True)
class DetectorSpec:
    """What a worker needs to build its :class:`~openmtcnn.detect.Detector` (picklable)."""

    weights: str | None
    config: DetectConfig
    threads: int | None = 1

    def __call__(self) -> Any:
        from .detector import Detector

        return Detector(self.weights, self.config, threads=self.threads)


@dataclass
class FileResult:
    """One image file: its detections, or the error that stopped it; the RGB array when asked for."""

    path: str
    result: DetectResult | None
    error: str | None
    rgb: np.ndarray | None
    seconds: float  # wall time of decoding + detection in the worker
    cpu_seconds: float


def detect_file(detector: Any, path: str, keep_image: bool = False) -> FileResult:
    """Decode one image file and detect its faces; an unreadable file gives a result with ``error`` set
    (naming the file) instead of an exception, so that a folder run goes on. Used by every multi-image pass."""
    from ..imaging import ImageError, load_image

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        rgb = load_image(path)
    except (ImageError, OSError) as e:
        return FileResult(path, None, str(e) if path in str(e) else f"{path}: {e}", None, 0.0, 0.0)
    res = detector.detect_rgb(rgb, source=path)
    return FileResult(path, res, None, rgb if keep_image else None, time.perf_counter() - t0, time.process_time() - c0)


def _detect_file(detector: Any, item: tuple[str, bool]) -> FileResult:
    return detect_file(detector, *item)


def detect_files(
    paths: Sequence[str | os.PathLike],
    weights: str | os.PathLike | None = None,
    config: DetectConfig | None = None,
    *,
    jobs: int | None = None,
    threads: int = 1,
    keep_images: bool = False,
    ordered: bool = True,
) -> Iterator[FileResult]:
    """Detect faces in image files on ``jobs`` processes (default: one per CPU), one
    :class:`FileResult` per path (in order unless ``ordered=False``); unreadable images
    come back with ``error`` set, the others go on. ``threads``: CPU threads per process
    (:class:`~openmtcnn.Detector`'s ``threads``). ``keep_images``: also return each
    decoded RGB array (to draw on or crop from; costs a copy between processes)."""
    spec = DetectorSpec(None if weights is None else str(weights), config or DetectConfig(), threads=threads)
    n = default_jobs() if jobs is None else int(jobs)
    return worker_map(spec, _detect_file, [(os.fspath(p), keep_images) for p in paths], min(n, max(1, len(paths))), ordered=ordered)
