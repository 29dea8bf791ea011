"""The public Detector: input handling around the cascade."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from ..config import DetectConfig
from ..imaging import ImageInput, to_rgb
from .backends import Backend, make_backend
from .cascade import StageTimer, detect_batch, weight_bound
from .result import DetectResult


class Detector:
    """MTCNN face detector.

    >>> det = Detector()                      # openmtcnn's own weights, ONNX Runtime
    >>> result = det.detect("group.jpg")      # path, PIL image or RGB array
    >>> result.boxes, result.scores, result.landmarks

    ``weights``: ``None`` (bundled default), a bundled set's name, or a folder
    with ``pnet.onnx``, ``rnet.onnx``, ``onet.onnx``. ``config`` holds the
    detection settings; keyword overrides (``min_face_size=40``...) change them. The settings a weight
    set was trained for (``manifest.json``'s ``cascade``: ``crop_method``, ``pnet_scale``) apply unless
    ``config`` or a keyword gives them (see :meth:`DetectConfig.for_weights`).
    ``threads``: CPU threads one call may use (``None``: one). With ``threads > 1``, whatever
    the backend, the cascade's independent pieces of work (P-Net on each pyramid level, each
    chunk of R-Net / O-Net crops) run on a pool of that many threads, each network call on one
    backend thread (a runtime's own intra-op threads made these small nets slower; see
    docs/speed.md). ``0``: the runtime's own choice of threads, no pool. The pool lives until
    :meth:`close` (or the end of a ``with Detector() as det:`` block). Many images go faster
    on several processes (:func:`openmtcnn.detect_files`).
    ``backend``: ``"onnx"`` (default: ONNX Runtime, CPU), ``"torch"`` (PyTorch, on
    ``device``: ``"cpu"``, ``"cuda"``...; needs torch and onnx) or a backend object
    (see :mod:`openmtcnn.detect.backends`). ``batch_size``: how many images of a list
    go through the cascade together (R-Net and O-Net see all their candidates at once).

    Each result's ``timings`` holds seconds per part: ``pyramid`` (resizing, input
    preparation), ``pnet``, ``rnet``, ``onet`` (the networks), ``nms`` (candidate
    decoding, NMS, box regression), ``crops``, ``other`` (the rest) and ``total``
    (for images detected together: the batch's figures divided among its images).
    To profile, pass a :class:`~openmtcnn.detect.cascade.StageTimer` as ``timer=``
    (``StageTimer.cpu()`` for CPU time): ``timings`` are then measured by its clocks, and the
    timer keeps adding up the parts and the network work (``pnet_inputs``, ``batch``) over calls.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        config: DetectConfig | None = None,
        *,
        threads: int | None = None,
        backend: str | Backend | None = None,
        device: str | None = None,
        batch_size: int = 8,
        **overrides: Any,
    ):
        config = (config or DetectConfig()).with_overrides(**overrides)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        workers = threads if threads and threads > 1 else 1
        self.backend: Backend = make_backend(backend, weights, threads=1 if workers > 1 else threads, device=device)
        self.config = weight_bound(config, self.backend)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="openmtcnn") if workers > 1 else None

    def close(self) -> None:
        """Shut the thread pool down (waiting for running work); later calls run on the calling thread."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(
        self, image: ImageInput | Sequence[ImageInput], *, bgr: bool = False, timer: StageTimer | None = None
    ) -> DetectResult | list[DetectResult]:
        """Detect faces in one image, or in each image of a list (sizes may differ).

        Arrays are RGB unless ``bgr=True`` (OpenCV's ``cv2.imread`` order). ``timer``: see the class.
        """
        if isinstance(image, (list, tuple)):
            out: list[DetectResult] = []
            for i in range(0, len(image), self.batch_size):
                part = image[i : i + self.batch_size]
                sources = [str(im) if isinstance(im, (str, os.PathLike)) else None for im in part]
                out += self.detect_rgb_batch([to_rgb(im, bgr=bgr, max_pixels=self.config.max_pixels) for im in part], sources, timer=timer)
            return out
        source = str(image) if isinstance(image, (str, os.PathLike)) else None
        return self.detect_rgb(to_rgb(image, bgr=bgr, max_pixels=self.config.max_pixels), source=source, timer=timer)

    def detect_rgb(
        self, rgb: np.ndarray, source: str | None = None, *, timer: StageTimer | None = None, config: DetectConfig | None = None
    ) -> DetectResult:
        """The cascade on an RGB uint8 ``(H, W, 3)`` array."""
        return self.detect_rgb_batch([rgb], [source], timer=timer, config=config)[0]

    def detect_rgb_batch(
        self, images: Sequence[np.ndarray], sources: Sequence[str | None] | None = None, *,
        timer: StageTimer | None = None, config: DetectConfig | None = None,
    ) -> list[DetectResult]:
        """The cascade on several RGB uint8 arrays at once (R-Net and O-Net batched over all of them).
        ``config``: settings for this call only (default: the detector's); calls may run on several threads at once."""
        sources = list(sources) if sources is not None else [None] * len(images)
        if len(sources) != len(images):
            raise ValueError(f"{len(images)} images but {len(sources)} sources")
        timer = StageTimer() if timer is None else timer
        before = dict(timer.seconds)
        t0 = timer.total_clock()
        found = detect_batch(images, self.backend, config or self.config, timer, self._pool)
        total = timer.total_clock() - t0
        timings = {k: v - before.get(k, 0.0) for k, v in timer.seconds.items()}
        timings["other"] = max(0.0, total - sum(timings.values()))
        timings["total"] = total
        share = {k: v / max(1, len(images)) for k, v in timings.items()}
        results = []
        for rgb, source, (boxes, scores, landmarks) in zip(images, sources, found):
            h, w = rgb.shape[:2]
            res = DetectResult(
                boxes.astype(np.float32),
                np.asarray(scores, np.float32),
                landmarks.astype(np.float32),
                (w, h),
                source,
            )
            res.timings = dict(share)
            results.append(res)
        return results
