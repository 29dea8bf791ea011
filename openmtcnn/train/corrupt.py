"""Photometric corruptions of training crops: blur, JPEG re-encoding, grayscale (``train.blur`` / ``jpeg`` /
``grayscale``, each a per-sample probability). Geometry is untouched, so labels stay as they are.

The faces a detector meets are often out of focus, heavily compressed, up-scaled from a few pixels, or
without colour; crops of a quarter of WIDER train show few of each.
"""

from __future__ import annotations

import cv2
import numpy as np

BLUR_SIGMA = (0.01, 0.06)  # gaussian sigma, as a fraction of the crop side (12 px: 0.12-0.7 px; 48 px: 0.5-2.9 px)
JPEG_QUALITY = (20, 80)


def corrupt(images: np.ndarray, rng: np.random.Generator, blur: float = 0.0, jpeg: float = 0.0,
            grayscale: float = 0.0) -> np.ndarray:
    """A copy of ``(N, S, S, 3)`` uint8 RGB crops with each corruption applied to a random share of them."""
    n = len(images)
    if n == 0 or not (blur or jpeg or grayscale):
        return images
    out = np.array(images, copy=True)
    side = out.shape[1]
    pick_blur = np.flatnonzero(rng.random(n) < blur)
    sigmas = rng.uniform(*BLUR_SIGMA, len(pick_blur)) * side
    for k, s in zip(pick_blur, sigmas):
        cv2.GaussianBlur(out[k], (0, 0), float(s), dst=out[k])
    pick_jpeg = np.flatnonzero(rng.random(n) < jpeg)
    qualities = rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1, len(pick_jpeg))
    for k, q in zip(pick_jpeg, qualities):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[k][:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        if ok:  # OpenCV encodes BGR: the channels go in and come back reversed
            out[k] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    gray = rng.random(n) < grayscale
    if gray.any():
        g = out[gray].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        out[gray] = np.clip(np.rint(g), 0, 255).astype(np.uint8)[..., None]
    return out
