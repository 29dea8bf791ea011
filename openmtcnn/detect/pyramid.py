"""The image pyramid: which scales P-Net sees."""

from __future__ import annotations

import math

import cv2
import numpy as np

PNET_SIZE = 12


def pyramid_scales(height: int, width: int, min_face_size: float, scale_factor: float) -> list[float]:
    """Scales ``m * f**k`` with ``m = 12 / min_face`` while the scaled short side stays >= 12 px."""
    m = PNET_SIZE / float(min_face_size)
    short = min(height, width) * m
    scales = []
    s = m
    while short >= PNET_SIZE:
        scales.append(s)
        s *= scale_factor
        short *= scale_factor
    return scales


def level_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(h, w)`` of a pyramid level: the scaled size rounded up."""
    return max(1, int(math.ceil(height * scale))), max(1, int(math.ceil(width * scale)))


def resize_level(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize an RGB image to one pyramid level (area interpolation when shrinking)."""
    h, w = image.shape[:2]
    hs, ws = level_size(h, w, scale)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (ws, hs), interpolation=interp)
