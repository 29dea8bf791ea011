"""The public Detector: input handling around the cascade."""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np

from ..config import DetectConfig
from ..imaging import ImageInput, to_rgb
from .backends import Backend, OnnxBackend
from .cascade import stage_onet, stage_pnet, stage_rnet
from .result import DetectResult


class Detector:
    """MTCNN face detector.

    >>> det = Detector()                      # openmtcnn's own weights, ONNX Runtime
    >>> result = det.detect("group.jpg")      # path, PIL image or RGB array
    >>> result.boxes, result.scores, result.landmarks

    ``weights``: ``None`` (bundled default), a bundled set's name, or a folder
    with ``pnet.onnx``, ``rnet.onnx``, ``onet.onnx``. ``config`` holds the
    detection settings; keyword overrides (``min_face_size=40``...) change them.
    ``threads``: ONNX Runtime intra-op threads (``None``: its default).
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        config: DetectConfig | None = None,
        *,
        threads: int | None = None,
        backend: Backend | None = None,
        **overrides: Any,
    ):
        self.config = (config or DetectConfig()).replace(**overrides)
        self.backend: Backend = backend if backend is not None else OnnxBackend(weights, threads=threads)

    def detect(
        self, image: ImageInput | Sequence[ImageInput], *, bgr: bool = False
    ) -> DetectResult | list[DetectResult]:
        """Detect faces in one image, or in each image of a list (sizes may differ).

        Arrays are RGB unless ``bgr=True`` (OpenCV's ``cv2.imread`` order).
        """
        if isinstance(image, (list, tuple)):
            return [self._detect_one(im, bgr) for im in image]
        return self._detect_one(image, bgr)

    def _detect_one(self, image: ImageInput, bgr: bool) -> DetectResult:
        source = str(image) if isinstance(image, (str, os.PathLike)) else None
        rgb = to_rgb(image, bgr=bgr)
        return self.detect_rgb(rgb, source=source)

    def detect_rgb(self, rgb: np.ndarray, source: str | None = None) -> DetectResult:
        """The cascade on an RGB uint8 ``(H, W, 3)`` array."""
        cfg = self.config
        h, w = rgb.shape[:2]
        t0 = time.perf_counter()
        cand = stage_pnet(rgb, self.backend, cfg)
        t1 = time.perf_counter()
        cand = stage_rnet(rgb, cand, self.backend, cfg)
        t2 = time.perf_counter()
        boxes, scores, landmarks = stage_onet(rgb, cand, self.backend, cfg)
        t3 = time.perf_counter()
        res = DetectResult(
            boxes.astype(np.float32),
            np.asarray(scores, np.float32),
            landmarks.astype(np.float32),
            (w, h),
            source,
        )
        res.timings = {"pnet": t1 - t0, "rnet": t2 - t1, "onet": t3 - t2}
        return res
