"""Cropping boxes out of an image and preparing net inputs; shared by detection and training."""

from __future__ import annotations

import cv2
import numpy as np

from .boxes import integer_boxes, pad


#: how :func:`crop_boxes` resizes: "area" (one OpenCV area resize per box, as the original MTCNN code) or
#: "bilinear" (one bilinear warp for all boxes)
CROP_METHODS = ("area", "bilinear")


def crop_boxes(image: np.ndarray, boxes: np.ndarray, size: int, method: str = "area") -> np.ndarray:
    """Crop each box (zero outside the image) and resize it to ``size x size``.

    ``image`` is ``(H, W, 3)`` uint8; returns ``(N, size, size, 3)`` uint8. Boxes
    are rounded to whole pixels first (:func:`integer_boxes`). ``method``:
    ``"area"``: OpenCV's area interpolation, one call per box (an exact area average
    of the box's pixels); ``"bilinear"``: :func:`crop_boxes_bilinear`, one call for all
    boxes. A net sees crops made the way its training samples were.
    """
    if method == "bilinear":
        return crop_boxes_bilinear(image, boxes, size)
    if method != "area":
        raise ValueError(f"crop method must be one of {CROP_METHODS}, got {method!r}")
    n = len(boxes)
    out = np.zeros((n, size, size, 3), dtype=np.uint8)
    if n == 0:
        return out
    h, w = image.shape[:2]
    ib = integer_boxes(boxes)
    src, dst = pad(ib, w, h)
    # one C call per box: plain lists, views where the box is inside the image, resize straight into `out`
    inside = (src == ib).all(axis=1).tolist()
    dsize = (size, size)
    for k, ((sx1, sy1, sx2, sy2), (dx1, dy1, dx2, dy2), (bx1, by1, bx2, by2), whole) in enumerate(
        zip(src.tolist(), dst.tolist(), ib.tolist(), inside)
    ):
        if whole:
            patch = image[sy1:sy2, sx1:sx2]
        elif sx2 <= sx1 or sy2 <= sy1:
            continue
        else:
            patch = np.zeros((by2 - by1, bx2 - bx1, 3), dtype=np.uint8)
            patch[dy1:dy2, dx1:dx2] = image[sy1:sy2, sx1:sx2]
        cv2.resize(patch, dsize, dst=out[k], interpolation=cv2.INTER_AREA)
    return out


def crop_boxes_bilinear(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """:func:`crop_boxes` by bilinear sampling: one ``cv2.remap`` over a map stacking every box's grid.

    Output pixel ``(i, j)`` of a box ``x1 y1 x2 y2`` (whole pixels) samples the image at
    ``x1 + (j + 0.5) (x2 - x1) / size - 0.5`` (likewise for y): the centres of ``size`` equal cells,
    as an area resize places them, but each read from the 2 x 2 pixels around it instead of
    averaging the cell, so a box much larger than ``size`` aliases. Outside the image reads 0.
    """
    n = len(boxes)
    if n == 0:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    ib = integer_boxes(boxes).astype(np.float32)
    cells = (np.arange(size, dtype=np.float32) + np.float32(0.5)) / np.float32(size)
    xs = ib[:, 0:1] + cells[None] * (ib[:, 2:3] - ib[:, 0:1]) - np.float32(0.5)  # (N, size)
    ys = ib[:, 1:2] + cells[None] * (ib[:, 3:4] - ib[:, 1:2]) - np.float32(0.5)
    map_x = np.ascontiguousarray(np.broadcast_to(xs[:, None, :], (n, size, size)).reshape(n * size, size))
    map_y = np.ascontiguousarray(np.broadcast_to(ys[:, :, None], (n, size, size)).reshape(n * size, size))
    # fixed-point maps (OpenCV's own 1/32 px grid, which remap uses for uint8 anyway): 0.25 ms to convert,
    # then the warp 1.25 instead of 1.9 ms (430 R-Net crops of the VGA photo, 1 thread)
    fixed, frac = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)
    out = cv2.remap(image, fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(n, size, size, 3)


#: pixel normalisation of every net input: ``(x - PIXEL_MEAN) * PIXEL_SCALE``
PIXEL_MEAN = 127.5
PIXEL_SCALE = 1.0 / 128.0

# the normalisation of every uint8 value: bit-identical to to_net_input's float32 arithmetic
# (x - 127.5 and the multiplication by 2**-7 are exact in float32)
_NORM_LUT = ((np.arange(256, dtype=np.float32) - np.float32(PIXEL_MEAN)) * np.float32(PIXEL_SCALE)).astype(np.float32)


def to_net_input(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` or ``(H, W, 3)`` RGB -> float32 NCHW scaled as ``(x - 127.5) / 128``."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    x = a.astype(np.float32)
    x -= PIXEL_MEAN
    x *= PIXEL_SCALE
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def level_input(level: np.ndarray) -> np.ndarray:
    """One image (HWC, uint8 or float32 of whole numbers 0-255) -> ``(1, 3, h, w)`` float32, equal to ``to_net_input(level)``.

    The fast path for P-Net's pyramid levels. uint8: a table lookup per channel plane (OpenCV),
    instead of numpy's convert, two passes of arithmetic and a transposing copy. float32: a
    transposing copy, then ``x * 2**-7 - 127.5 * 2**-7`` in place, every step exact for whole
    numbers, so the result is bit-identical to ``(x - 127.5) / 128``.
    """
    h, w = level.shape[:2]
    out = np.empty((1, 3, h, w), np.float32)
    if level.dtype == np.float32:
        out[0] = level.transpose(2, 0, 1)
        out *= np.float32(PIXEL_SCALE)
        out -= np.float32(PIXEL_MEAN * PIXEL_SCALE)
        return out
    for c, plane in enumerate(cv2.split(level)):
        cv2.LUT(plane, _NORM_LUT, dst=out[0, c])
    return out
