"""The three stages of the cascade as functions of (image, boxes, backend, config)."""

from __future__ import annotations

import numpy as np

from ..config import DetectConfig
from ..ops import boxes as B
from ..ops.crops import crop_boxes, to_net_input
from .backends import Backend
from .pyramid import PNET_SIZE, pyramid_scales, resize_level

PNET_STRIDE = 2
CHUNK = 1024  # candidates per R-Net / O-Net call


def pnet_candidates(prob: np.ndarray, reg: np.ndarray, sx: float, sy: float, threshold: float) -> np.ndarray:
    """Turn one level's P-Net maps into ``(K, 9)`` rows: window x1 y1 x2 y2 (image px), score, 4 offsets."""
    ys, xs = np.nonzero(prob > threshold)
    if len(ys) == 0:
        return np.zeros((0, 9))
    x1 = xs * PNET_STRIDE / sx
    y1 = ys * PNET_STRIDE / sy
    x2 = (xs * PNET_STRIDE + PNET_SIZE) / sx
    y2 = (ys * PNET_STRIDE + PNET_SIZE) / sy
    return np.column_stack([x1, y1, x2, y2, prob[ys, xs], reg[:, ys, xs].T])


def stage_pnet(image: np.ndarray, backend: Backend, cfg: DetectConfig) -> np.ndarray:
    """P-Net over the pyramid -> square candidate boxes ``(K, 5)`` (box, score)."""
    h, w = image.shape[:2]
    rows = []
    for scale in pyramid_scales(h, w, cfg.min_face_size, cfg.scale_factor):
        level = resize_level(image, scale)
        prob, reg, _ = backend.run("pnet", to_net_input(level))
        c = pnet_candidates(prob[0], reg[0], level.shape[1] / w, level.shape[0] / h, cfg.thresholds[0])
        if len(c):
            c = c[B.nms(c[:, :4], c[:, 4], cfg.nms_pnet_level)]
            rows.append(c)
    if not rows:
        return np.zeros((0, 5))
    c = np.concatenate(rows)
    c = c[B.nms(c[:, :4], c[:, 4], cfg.nms_pnet)]
    return _limit(np.column_stack([B.square(B.calibrate(c[:, :4], c[:, 5:9])), c[:, 4]]), cfg)


def _run_crops(image: np.ndarray, boxes: np.ndarray, stage: str, backend: Backend):
    size = backend.input_sizes[stage]
    probs, regs, lmks = [], [], []
    for i in range(0, len(boxes), CHUNK):
        crops = crop_boxes(image, boxes[i : i + CHUNK], size)
        p, r, l = backend.run(stage, to_net_input(crops))
        probs.append(p), regs.append(r), lmks.append(l)
    return np.concatenate(probs), np.concatenate(regs), np.concatenate(lmks)


def stage_rnet(image: np.ndarray, cand: np.ndarray, backend: Backend, cfg: DetectConfig) -> np.ndarray:
    """R-Net on the P-Net candidates -> square boxes ``(K, 5)``."""
    if len(cand) == 0:
        return cand
    prob, reg, _ = _run_crops(image, cand[:, :4], "rnet", backend)
    keep = prob > cfg.thresholds[1]
    boxes, scores, reg = cand[keep, :4], prob[keep], reg[keep]
    pick = B.nms(boxes, scores, cfg.nms_rnet)
    boxes = B.square(B.calibrate(boxes[pick], reg[pick]))
    return _limit(np.column_stack([boxes, scores[pick]]), cfg)


def stage_onet(image: np.ndarray, cand: np.ndarray, backend: Backend, cfg: DetectConfig):
    """O-Net on the R-Net boxes -> final ``boxes (K, 4), scores (K,), landmarks (K, 5, 2)``."""
    if len(cand) == 0:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    prob, reg, lmk = _run_crops(image, cand[:, :4], "onet", backend)
    keep = prob > cfg.thresholds[2]
    boxes, scores, reg, lmk = cand[keep, :4], prob[keep], reg[keep], lmk[keep]
    landmarks = landmarks_from_offsets(boxes, lmk)
    boxes = B.calibrate(boxes, reg)
    pick = B.nms(boxes, scores, cfg.nms_onet, mode="min")
    return boxes[pick], scores[pick], landmarks[pick]


def landmarks_from_offsets(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """10 numbers ``x1, y1, ..., x5, y5`` relative to the box -> ``(N, 5, 2)`` image points."""
    b = np.asarray(boxes, dtype=np.float64)
    o = np.asarray(offsets, dtype=np.float64).reshape(-1, 5, 2)
    wh = (b[:, 2:4] - b[:, 0:2])[:, None, :]
    return b[:, None, 0:2] + o * wh


def landmark_offsets(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`landmarks_from_offsets` (training labels): ``(N, 5, 2)`` -> ``(N, 10)``."""
    b = np.asarray(boxes, dtype=np.float64)
    wh = (b[:, 2:4] - b[:, 0:2])[:, None, :]
    return ((np.asarray(points, dtype=np.float64) - b[:, None, 0:2]) / wh).reshape(-1, 10)


def _limit(rows: np.ndarray, cfg: DetectConfig) -> np.ndarray:
    if cfg.max_candidates and len(rows) > cfg.max_candidates:
        rows = rows[np.argsort(-rows[:, 4], kind="stable")[: cfg.max_candidates]]
    return rows
