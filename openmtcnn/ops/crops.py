"""Cropping boxes out of an image and preparing net inputs; shared by detection and training."""

from __future__ import annotations

import cv2
import numpy as np

from .boxes import integer_boxes, pad


def crop_boxes(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop each box (zero outside the image) and resize it to ``size x size``.

    ``image`` is ``(H, W, 3)`` uint8; returns ``(N, size, size, 3)`` uint8. Boxes
    are rounded to whole pixels first (:func:`integer_boxes`).
    """
    n = len(boxes)
    out = np.zeros((n, size, size, 3), dtype=np.uint8)
    if n == 0:
        return out
    h, w = image.shape[:2]
    ib = integer_boxes(boxes)
    src, dst = pad(ib, w, h)
    for k in range(n):
        sx1, sy1, sx2, sy2 = src[k]
        if sx2 <= sx1 or sy2 <= sy1:
            continue
        bw, bh = ib[k, 2] - ib[k, 0], ib[k, 3] - ib[k, 1]
        if sx1 - ib[k, 0] == 0 and sy1 - ib[k, 1] == 0 and sx2 - sx1 == bw and sy2 - sy1 == bh:
            patch = image[sy1:sy2, sx1:sx2]
        else:
            patch = np.zeros((bh, bw, 3), dtype=np.uint8)
            dx1, dy1, dx2, dy2 = dst[k]
            patch[dy1:dy2, dx1:dx2] = image[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


def to_net_input(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` or ``(H, W, 3)`` RGB -> float32 NCHW scaled as ``(x - 127.5) / 128``."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    x = a.astype(np.float32)
    x -= 127.5
    x *= 1.0 / 128.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
