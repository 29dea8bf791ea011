"""WIDER FACE validation AP, exactly as the official evaluation: submission files, matching, PR curves, AP.

The detection pass and a whole evaluation run are in :mod:`.widerface`.

The official code (``eval_tools``: ``wider_eval.m``, ``read_pred.m``,
``norm_score.m``, ``evaluation.m``, ``VOCap.m``) does, and so do we:

1. Read each image's predictions ``x y w h score`` (a missing file means no
   predictions) and sort them by score, highest first (stable).
2. Normalise the scores with the minimum and maximum over *all* predictions
   of all images: ``(s - min) / (max - min)``.
3. Per setting (easy, medium, hard) and image: the ``gt_list`` of that
   setting's ``.mat`` file names the faces that count; the others are ignored.
   Images with no face or no prediction add nothing but their kept faces to
   the face count. Each prediction, in score order, takes the face it
   overlaps most (IoU with the "+1 pixel" convention of ``boxoverlap``, i.e.
   areas ``(w + 1) * (h + 1)``); if that IoU >= 0.5: an ignored face makes the
   prediction drop out (neither TP nor FP), a kept face not yet found is
   recalled; a prediction matching nothing, or a face already found, stays a
   proposal (FP).
4. For thresholds ``t = 1 - k/1000``, ``k = 1..1000``: per image, the
   predictions with score >= t give the number of proposals and of recalled
   faces; summed over images: precision = recalled / proposals, recall =
   recalled / kept faces.
5. AP = area under the precision envelope (``VOCap``): sentinels (0, 0) and
   (1, 0), precision made non-increasing from the right (NaN, from 0/0, is
   skipped as MATLAB's ``max`` skips it), summed over recall steps.

One departure, for a case the official code turns into NaN: when every
prediction has the same score, all normalised scores are 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.wider import GT_FILES, SETTINGS, GroundTruthError, WiderGroundTruth  # noqa: F401  (evaluation reads them here)
from ..ops import boxes as B
from .formats import FormatError, format_block, read_blocks, write_text_atomic

IOU_THRESHOLD = 0.5
THRESH_NUM = 1000


# --------------------------------------------------------------------------- predictions


def prediction_path(pred_dir: str | os.PathLike, event: str, name: str) -> Path:
    """Where an image's submission file lives: ``PRED_DIR/EVENT/NAME.txt``."""
    return Path(pred_dir) / event / f"{name}.txt"


def predicted_images(pred_dir: str | os.PathLike) -> set[tuple[str, str]]:
    """``(event, name)`` of every image that has a submission file in ``PRED_DIR`` (see :func:`prediction_path`)."""
    return {(p.parent.name, p.stem) for p in Path(pred_dir).glob("*/*.txt")}


def write_prediction(pred_dir: str | os.PathLike, event: str, name: str, rows: np.ndarray) -> Path:
    """Write one image's ``x y w h score`` rows in the official submission format (atomically)."""
    p = prediction_path(pred_dir, event, name)
    write_text_atomic(p, format_block(name, rows))
    return p


def read_prediction(path: str | os.PathLike) -> np.ndarray:
    """One submission file -> ``(N, 5)`` rows ``x y w h score`` in file order."""
    blocks = read_blocks(path, columns=5)
    if not blocks:
        raise FormatError(f"{path}: empty prediction file (expected the image name, a count and x y w h score lines)")
    return blocks[0][1]


@dataclass
class Predictions:
    """Per image ``(N, 5)`` rows ``x y w h score``, indexed like the ground truth; ``missing``: images without a file."""

    rows: list[list[np.ndarray]]
    missing: list[str] = field(default_factory=list)


def read_predictions(pred_dir: str | os.PathLike, gt: WiderGroundTruth) -> Predictions:
    """Read ``PRED_DIR/EVENT/NAME.txt`` for every ground-truth image; a missing file counts as no prediction."""
    d = Path(pred_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: prediction folder not found")
    rows: list[list[np.ndarray]] = [[np.zeros((0, 5)) for _ in f] for f in gt.files]
    missing = []
    for i, j, ev, name in gt.items():
        p = prediction_path(d, ev, name)
        if p.is_file():
            rows[i][j] = read_prediction(p)
        else:
            missing.append(f"{ev}/{name}")
    return Predictions(rows, missing)


# --------------------------------------------------------------------------- evaluation


def sort_by_score(rows: np.ndarray) -> np.ndarray:
    """Rows ordered by score, highest first; equal scores keep file order (as MATLAB's stable sort)."""
    return rows[np.argsort(-rows[:, 4], kind="stable")]


def normalise_scores(rows: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """``(s - min) / (max - min)`` over all predictions of all images (``norm_score.m``).

    As in the official code the running maximum starts at the smallest
    positive float32 and the minimum at the largest float32.
    """
    lo, hi = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
    for ev in rows:
        for r in ev:
            if len(r):
                lo, hi = min(lo, float(r[:, 4].min())), max(hi, float(r[:, 4].max()))
    span = hi - lo
    out = []
    for ev in rows:
        ev_out = []
        for r in ev:
            r = r.copy()
            if len(r):
                r[:, 4] = (r[:, 4] - lo) / span if span > 0 else 1.0
            ev_out.append(r)
        out.append(ev_out)
    return out


def wider_iou(pred_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """IoU ``(len(pred), len(gt))`` as the official ``boxoverlap``: a box ``x y w h`` spans ``w + 1`` pixels."""
    def corners(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=np.float64)[:, :4]
        return np.column_stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2] + 1, b[:, 1] + b[:, 3] + 1])

    return B.box_iou(corners(pred_xywh), corners(gt_xywh))


def image_eval(
    pred: np.ndarray, gt: np.ndarray, keep: np.ndarray, iou_threshold: float = IOU_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """Match one image's score-sorted predictions to its faces (``image_evaluation`` of ``evaluation.m``).

    ``keep``: boolean per face (False = ignored). Returns ``pred_recall``
    (kept faces found by predictions ``0..h``) and ``proposal`` (False where the
    prediction matched an ignored face and drops out).
    """
    overlaps = wider_iou(pred, gt)
    state = np.zeros(len(gt), dtype=np.int8)  # 0 not found, 1 found, -1 ignored and hit
    proposal = np.ones(len(pred), dtype=bool)
    pred_recall = np.zeros(len(pred), dtype=np.int64)
    found = 0
    best = overlaps.argmax(axis=1)  # first maximum, as MATLAB's max
    best_ov = overlaps[np.arange(len(pred)), best]
    for h in range(len(pred)):
        if best_ov[h] >= iou_threshold:
            j = best[h]
            if not keep[j]:
                state[j] = -1
                proposal[h] = False
            elif state[j] == 0:
                state[j] = 1
                found += 1
        pred_recall[h] = found
    return pred_recall, proposal


def thresholds(thresh_num: int = THRESH_NUM) -> np.ndarray:
    """``1 - k / thresh_num`` for ``k = 1..thresh_num``, computed as the official code does."""
    return 1 - np.arange(1, thresh_num + 1) / thresh_num


def image_pr_info(scores: np.ndarray, proposal: np.ndarray, pred_recall: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``(T, 2)``: per threshold, proposals and recalled faces among the predictions scoring >= it."""
    n_above = (scores[None, :] >= thr[:, None]).sum(axis=1)  # scores are sorted, so this is "last index + 1"
    out = np.zeros((len(thr), 2))
    has = n_above > 0
    cum_prop = np.cumsum(proposal)
    out[has, 0] = cum_prop[n_above[has] - 1]
    out[has, 1] = pred_recall[n_above[has] - 1]
    return out


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (``VOCap.m``); NaN precisions are skipped as MATLAB's ``max`` does."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = np.fmax(mpre[i], mpre[i + 1])
    i = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


@dataclass
class SettingResult:
    """One setting's outcome: AP, the PR curve at the 1000 thresholds and the face count."""

    ap: float
    precision: np.ndarray
    recall: np.ndarray
    faces: int


def evaluate(
    preds: Predictions | list[list[np.ndarray]],
    gt: WiderGroundTruth,
    iou_threshold: float = IOU_THRESHOLD,
    thresh_num: int = THRESH_NUM,
) -> dict[str, SettingResult]:
    """AP and PR curve for easy, medium and hard, exactly as the official evaluation."""
    rows = preds.rows if isinstance(preds, Predictions) else preds
    if len(rows) != len(gt.events) or any(len(r) != len(f) for r, f in zip(rows, gt.files)):
        raise ValueError("predictions are not indexed like the ground truth (use read_predictions)")
    rows = normalise_scores([[sort_by_score(np.asarray(r, dtype=np.float64).reshape(-1, 5)) for r in ev] for ev in rows])
    thr = thresholds(thresh_num)
    out = {}
    for s in SETTINGS:
        pr = np.zeros((thresh_num, 2))
        faces = 0
        for i, j, _, _ in gt.items():
            keep_idx = gt.keep[s][i][j]
            faces += len(keep_idx)
            g, p = gt.boxes[i][j], rows[i][j]
            if len(g) == 0 or len(p) == 0:
                continue
            keep = np.zeros(len(g), dtype=bool)
            keep[keep_idx] = True
            pred_recall, proposal = image_eval(p, g, keep, iou_threshold)
            pr += image_pr_info(p[:, 4], proposal, pred_recall, thr)
        if faces == 0:
            raise GroundTruthError(f"setting {s}: no face counts, AP undefined")
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = pr[:, 1] / pr[:, 0]
        recall = pr[:, 1] / faces
        out[s] = SettingResult(voc_ap(recall, precision), precision, recall, faces)
    return out


def results_to_dict(results: dict[str, SettingResult], decimals: int = 5) -> dict[str, Any]:
    """JSON-ready AP, face counts and PR curves (NaN precision written as null)."""
    def clean(a: np.ndarray) -> list[float | None]:
        return [None if not np.isfinite(v) else round(float(v), decimals) for v in a]

    return {
        "ap": {s: round(r.ap, 6) for s, r in results.items()},
        "faces": {s: r.faces for s, r in results.items()},
        "curves": {s: {"precision": clean(r.precision), "recall": clean(r.recall)} for s, r in results.items()},
    }
