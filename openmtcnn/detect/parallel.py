"""Many images on all cores: worker processes, each with its own single-threaded detector.

The nets are small: one image keeps one core busy at best (ONNX Runtime's intra-op
threads mostly wait on each other for such nets; a detector's own thread pool, ``threads``,
leaves serial parts between the stages; see docs/speed.md), so a folder goes fastest with
one process per core, each running whole images. :func:`~openmtcnn.detect.pool.worker_map`
is the generic part (the one process pool, also used by ``openmtcnn evaluate widerface``; its
docstring says why workers are fresh interpreters that do not re-run the caller's script, and
how a worker that dies is answered); :func:`detect_files` runs the detector over image files with it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..config import DetectConfig
from .pool import WorkerError, default_jobs, worker_map
from .result import DetectResult

__all__ = ["DetectorSpec", "FileResult", "WorkerError", "default_jobs", "detect_file", "detect_files", "worker_map"]


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


def failed_file(path: str, message: str) -> FileResult:
    """The result of a file that could not be processed; the message names the file."""
    return FileResult(path, None, message if path in message else f"{path}: {message}", None, 0.0, 0.0)


def detect_file(detector: Any, path: str, keep_image: bool = False) -> FileResult:
    """Decode one image file and detect its faces; an unreadable file gives a result with ``error`` set
    (naming the file) instead of an exception, so that a folder run goes on. Used by every multi-image pass."""
    from ..imaging import ImageError, load_image

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        rgb = load_image(path, max_pixels=getattr(getattr(detector, "config", None), "max_pixels", None))  # any detect_rgb object
    except (ImageError, OSError) as e:
        return failed_file(path, str(e))
    res = detector.detect_rgb(rgb, source=path)
    return FileResult(path, res, None, rgb if keep_image else None, time.perf_counter() - t0, time.process_time() - c0)


def _detect_file(detector: Any, item: tuple[str, bool]) -> FileResult:
    return detect_file(detector, *item)


def _file_failed(item: tuple[str, bool], message: str) -> FileResult:
    return failed_file(item[0], message)


def detect_files(
    paths: Sequence[str | os.PathLike],
    weights: str | os.PathLike | None = None,
    config: DetectConfig | None = None,
    *,
    jobs: int | None = None,
    threads: int = 1,
    keep_images: bool = False,
    ordered: bool = True,
    detector: Callable[[], Any] | None = None,
) -> Iterator[FileResult]:
    """Detect faces in image files on ``jobs`` processes (default: one per CPU), one
    :class:`FileResult` per path (in order unless ``ordered=False``); unreadable images
    come back with ``error`` set, the others go on; so do files whose worker process died on them
    (killed, out of memory, a crash in a native library), and a fresh worker takes over.
    Works as pasted into a script without an ``if __name__ == "__main__":`` guard (the workers
    never re-run the script; :mod:`openmtcnn.detect.pool`); a worker that cannot start (weights
    that do not load) raises :class:`WorkerError` at once. ``threads``: CPU threads per process
    (:class:`~openmtcnn.Detector`'s ``threads``). ``keep_images``: also return each
    decoded RGB array (to draw on or crop from; costs a copy between processes). ``detector``: what makes each
    worker's detector instead of ``weights``, ``config`` and ``threads`` (any object with ``detect_rgb(rgb, source=)``;
    it must pickle when ``jobs`` > 1, as :class:`DetectorSpec` does; with ``jobs=1``, e.g. ``lambda: my_detector``)."""
    spec = detector or DetectorSpec(None if weights is None else str(weights), config or DetectConfig(), threads=threads)
    n = default_jobs() if jobs is None else int(jobs)
    items = [(os.fspath(p), keep_images) for p in paths]
    return worker_map(spec, _detect_file, items, min(n, max(1, len(paths))), ordered=ordered, on_error=_file_failed)
