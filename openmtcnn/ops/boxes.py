"""Box maths shared by inference, training and evaluation (numpy only).

Convention (openmtcnn's one pixel convention, for boxes and points alike): 0-based pixel corners,
pixel ``i`` covering ``[i, i + 1)`` (its centre at ``i + 0.5``); a box is ``(x1, y1, x2, y2)`` in
these continuous coordinates and its width is ``x2 - x1``. Data sets in other conventions are
converted when read (:mod:`openmtcnn.datasets.conventions`). Arrays are ``(N, 4)`` (extra columns,
e.g. a score, are ignored where not needed).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NmsMode = Literal["union", "min"]


def area(boxes: np.ndarray) -> np.ndarray:
    """Area of each box; degenerate boxes have area 0."""
    b = np.asarray(boxes, dtype=np.float64)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas, shape ``(len(a), len(b))``."""
    a = np.asarray(a, dtype=np.float64)[:, None, :4]
    b = np.asarray(b, dtype=np.float64)[None, :, :4]
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def box_iou(a: np.ndarray, b: np.ndarray, mode: NmsMode = "union") -> np.ndarray:
    """Pairwise overlap ``(len(a), len(b))``: IoU, or ("min") intersection over the smaller box."""
    inter = intersection(a, b)
    aa, ab = area(a)[:, None], area(b)[None, :]
    denom = np.minimum(aa, ab) if mode == "min" else aa + ab - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, inter / denom, 0.0)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: NmsMode = "union") -> np.ndarray:
    """Greedy non-maximum suppression.

    Returns the indices of the kept boxes, highest score first. A box is removed
    when its overlap with an already kept box is strictly greater than
    ``threshold``. Ties in score keep the lower index first (stable order).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    if threshold >= 0 and len(boxes) > 1 and np.isfinite(boxes[:, :4]).all():
        kept = _greedy_sparse(boxes, order, threshold, mode)
        if kept is not None:
            return kept
    return _greedy_loop(boxes, order, threshold, mode)


_SPARSE_MAX_PAIRS_PER_BOX = 128  # denser clusters suit the loop, which drops a kept box's neighbours at once


def _greedy_sparse(boxes: np.ndarray, order: np.ndarray, threshold: float, mode: NmsMode) -> np.ndarray | None:
    """The greedy loop's result, computing overlaps only for pairs of boxes whose x-ranges meet.

    Other pairs have no intersection, so overlap 0, which never exceeds a threshold
    >= 0 (finite boxes). Each overlap is the same float expression as in the loop
    (it is symmetric bit for bit), so the kept set is identical. Returns ``None``
    when the boxes overlap too densely for this to pay.
    """
    n = len(boxes)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = area(boxes)
    by_x = np.argsort(x1, kind="stable")
    end = np.searchsorted(x1[by_x], x2[by_x], side="left")  # boxes by_x[p+1:end[p]] start inside box by_x[p]
    count = np.maximum(end - np.arange(n) - 1, 0)
    total = int(count.sum())
    if total > _SPARSE_MAX_PAIRS_PER_BOX * n:
        return None
    if total == 0:
        return order.astype(np.int64)
    first = np.repeat(np.arange(n), count)
    second = first + 1 + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    a, b = by_x[first], by_x[second]
    w = np.maximum(np.minimum(x2[a], x2[b]) - np.maximum(x1[a], x1[b]), 0)
    h = np.maximum(np.minimum(y2[a], y2[b]) - np.maximum(y1[a], y1[b]), 0)
    inter = w * h
    denom = np.minimum(areas[a], areas[b]) if mode == "min" else areas[a] + areas[b] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        ov = np.where(denom > 0, inter / denom, 0.0)
    hit = ~(ov <= threshold)
    a, b = a[hit], b[hit]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    ra, rb = rank[a], rank[b]
    src, dst = np.minimum(ra, rb), np.maximum(ra, rb)  # the better-ranked box suppresses the other
    srt = np.argsort(src, kind="stable")
    src, dst = src[srt], dst[srt]
    starts = np.searchsorted(src, np.arange(n + 1)).tolist()
    removed = np.zeros(n, dtype=bool)
    keep = []
    for r in range(n):
        if removed[r]:
            continue
        keep.append(r)
        if starts[r + 1] > starts[r]:
            removed[dst[starts[r] : starts[r + 1]]] = True
    return order[np.asarray(keep, dtype=np.int64)]


def _greedy_loop(boxes: np.ndarray, order: np.ndarray, threshold: float, mode: NmsMode) -> np.ndarray:
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = area(boxes)
    keep = []
    with np.errstate(divide="ignore", invalid="ignore"):
        while order.size > 0:
            i = order[0]
            keep.append(i)
            rest = order[1:]
            w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
            h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
            inter = w * h
            denom = np.minimum(areas[i], areas[rest]) if mode == "min" else areas[i] + areas[rest] - inter
            ov = np.where(denom > 0, inter / denom, 0.0)
            order = rest[ov <= threshold]
    return np.asarray(keep, dtype=np.int64)


def calibrate(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply box regression: ``x1 += dx1 * w`` etc., offsets scaled by box width/height."""
    b = np.asarray(boxes, dtype=np.float64)
    o = np.asarray(offsets, dtype=np.float64)
    w = (b[:, 2] - b[:, 0])[:, None]
    h = (b[:, 3] - b[:, 1])[:, None]
    out = b[:, :4] + o[:, :4] * np.concatenate([w, h, w, h], axis=1)
    return out


def regression_targets(boxes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The offsets that :func:`calibrate` needs to turn ``boxes`` into ``targets`` (training labels)."""
    b = np.asarray(boxes, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    w = (b[:, 2] - b[:, 0])[:, None]
    h = (b[:, 3] - b[:, 1])[:, None]
    return (t[:, :4] - b[:, :4]) / np.concatenate([w, h, w, h], axis=1)


def offsets_iou(offsets: np.ndarray, to_square: bool = False) -> np.ndarray:
    """IoU of each box with the box its regression offsets point to (or with that box's square) -> ``(N,)``.

    Scale-free: a unit box and ``calibrate``'s result on it, so only the offsets are needed. With
    ``to_square`` the result is the pixel IoU only for square boxes (as training crops are).
    """
    o = np.asarray(offsets, dtype=np.float64).reshape(-1, 4)
    target = np.column_stack([o[:, 0], o[:, 1], 1 + o[:, 2], 1 + o[:, 3]])
    if to_square:
        target = square(target)
    unit = np.array([[0.0, 0.0, 1.0, 1.0]])
    return box_iou(target, unit)[:, 0]


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square of side ``max(w, h)`` around the same centre."""
    b = np.asarray(boxes, dtype=np.float64)[:, :4].copy()
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    cx = b[:, 0] + w / 2
    cy = b[:, 1] + h / 2
    b[:, 0] = cx - side / 2
    b[:, 1] = cy - side / 2
    b[:, 2] = b[:, 0] + side
    b[:, 3] = b[:, 1] + side
    return b


def integer_boxes(boxes: np.ndarray) -> np.ndarray:
    """Round boxes to whole pixels (``x1, y1`` rounded, size kept >= 1) for cropping."""
    b = np.asarray(boxes, dtype=np.float64)[:, :4]
    x1 = np.round(b[:, 0])
    y1 = np.round(b[:, 1])
    w = np.maximum(np.round(b[:, 2] - b[:, 0]), 1)
    h = np.maximum(np.round(b[:, 3] - b[:, 1]), 1)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.int64)


def pad(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Split integer boxes into the part inside a ``width x height`` image and its place in the crop.

    Returns ``(src, dst)``, both ``(N, 4)`` int arrays of ``x1, y1, x2, y2``:
    ``crop[dst_y1:dst_y2, dst_x1:dst_x2] = image[src_y1:src_y2, src_x1:src_x2]``
    where the crop has the box's size and is zero outside the image. A box
    entirely outside the image gets an empty source (``x2 <= x1``).
    """
    b = np.asarray(boxes, dtype=np.int64)[:, :4]
    sx1 = np.clip(b[:, 0], 0, width)
    sy1 = np.clip(b[:, 1], 0, height)
    sx2 = np.clip(b[:, 2], 0, width)
    sy2 = np.clip(b[:, 3], 0, height)
    dx1 = sx1 - b[:, 0]
    dy1 = sy1 - b[:, 1]
    dx2 = dx1 + np.maximum(sx2 - sx1, 0)
    dy2 = dy1 + np.maximum(sy2 - sy1, 0)
    return np.stack([sx1, sy1, sx2, sy2], 1), np.stack([dx1, dy1, dx2, dy2], 1)


def clip(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip boxes to the image rectangle."""
    b = np.asarray(boxes, dtype=np.float64)[:, :4].copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


#: Where the annotated (square) face box sits on the 5 points in the landmark training list of Sun et al. 2013
#: (``trainImageList.txt``, 10,000 faces): side = 1.439 x the points' span (the diagonal of inter-ocular distance
#: and eye-to-mouth distance; the side varies by 9 % around that, less than with either distance alone), centre =
#: the points' mean shifted by (-0.008, -0.023) spans. The test list gives 1.442 and (-0.006, -0.022).
POINTS_BOX_SIDE = 1.439
POINTS_BOX_SHIFT = (-0.008, -0.023)


def points_box(points: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Square boxes placed on 5 face points ``(N, 5, 2)`` as the landmark set's annotated boxes sit on theirs,
    ``scale`` times that size. Points: left eye, right eye, nose, left and right mouth corner."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
    iod = np.linalg.norm(p[:, 0] - p[:, 1], axis=1)
    eye_mouth = np.linalg.norm((p[:, 0] + p[:, 1]) / 2 - (p[:, 3] + p[:, 4]) / 2, axis=1)
    span = np.hypot(iod, eye_mouth)
    centre = p.mean(axis=1) + np.asarray(POINTS_BOX_SHIFT) * span[:, None]
    half = (POINTS_BOX_SIDE * scale * span / 2)[:, None]
    return np.concatenate([centre - half, centre + half], axis=1)
