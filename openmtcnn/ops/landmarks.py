"""The five facial points relative to a box (numpy only), as the nets predict them.

O-Net's landmark head gives 10 numbers ``x1, y1, ..., x5, y5``, each point's offset from the
box's top-left corner in units of the box's width and height (boxes as in
:mod:`openmtcnn.ops.boxes`). :func:`decode` turns them into image points (inference),
:func:`encode` turns points into them (training labels), as torchvision's ``BoxCoder`` does for boxes.
:func:`normalised_errors` is the landmark error both training and evaluation report.
"""

from __future__ import annotations

import numpy as np


def decode(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(N, 10)`` offsets relative to ``(N, 4)`` boxes -> ``(N, 5, 2)`` image points."""
    b = np.asarray(boxes, dtype=np.float64)
    o = np.asarray(offsets, dtype=np.float64).reshape(-1, 5, 2)
    wh = (b[:, 2:4] - b[:, 0:2])[:, None, :]
    return b[:, None, 0:2] + o * wh


def encode(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`decode`: ``(N, 5, 2)`` image points -> ``(N, 10)`` offsets relative to ``(N, 4)`` boxes."""
    b = np.asarray(boxes, dtype=np.float64)
    wh = (b[:, 2:4] - b[:, 0:2])[:, None, :]
    return ((np.asarray(points, dtype=np.float64) - b[:, None, 0:2]) / wh).reshape(-1, 10)


def normalised_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N, 5)`` point-to-point distances divided by each face's inter-ocular distance."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 5, 2)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 5, 2)
    iod = np.linalg.norm(gt[:, 0] - gt[:, 1], axis=1)
    if np.any(iod <= 0):
        raise ValueError("a face has both eyes at the same point: inter-ocular distance is 0")
    return np.linalg.norm(pred - gt, axis=2) / iod[:, None]
