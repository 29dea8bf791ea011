"""Where faces are lost: recall after each stage of the cascade on WIDER FACE val.

A face counts as kept by a stage when one of that stage's output boxes (P-Net:
the calibrated, squared candidates handed to R-Net; R-Net: those handed to O-Net;
O-Net: the final detections) overlaps it with IoU >= ``iou``. Per setting (easy,
medium, hard) only the faces of that setting's ground truth list count, as in
the official protocol. Read against the AP: a face lost here cannot be found at
any score threshold, so the last column bounds the AP curve's recall.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import DetectConfig
from ..detect import cascade as C
from ..detect.backends import Backend
from ..imaging import ImageError, load_image
from ..ops import boxes as B
from ..stages import STAGES
from .formats import xywh_to_xyxy
from ..datasets.wider import SETTINGS, WiderGroundTruth
from .runs import default_out, log_stderr, run_label


def cascade_stage_boxes(rgb: np.ndarray, backend: Backend, cfg: DetectConfig) -> dict[str, np.ndarray]:
    """Every stage's output boxes ``(K, 4)`` x1 y1 x2 y2 for one RGB image."""
    p = C.stage_pnet(rgb, backend, cfg)
    r = C.stage_rnet(rgb, p, backend, cfg)
    o = C.stage_onet(rgb, r, backend, cfg)[0]
    return {"pnet": p[:, :4], "rnet": r[:, :4], "onet": o}


def faces_hit(gt_xywh: np.ndarray, boxes: np.ndarray, iou: float) -> np.ndarray:
    """Which ground-truth faces (``x y w h``) some box overlaps with IoU >= ``iou`` -> bool ``(n,)``."""
    gt = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    if len(gt) == 0 or len(boxes) == 0:
        return np.zeros(len(gt), bool)
    return (B.box_iou(xywh_to_xyxy(gt), np.asarray(boxes, dtype=np.float64).reshape(-1, 4)) >= iou).any(axis=1)


def stage_recall(
    gt: WiderGroundTruth,
    images_dir: str | os.PathLike,
    backend: Backend,
    cfg: DetectConfig,
    *,
    every: int = 1,
    iou: float = 0.5,
    progress: bool = True,
) -> dict[str, Any]:
    """Recall after each stage per setting over every ``every``-th val image (in the ground truth's order).

    Returns ``{"images", "unreadable", "candidates_per_image": {stage: mean},
    "settings": {setting: {"faces", "recall": {stage: share}}}}``. Unreadable images are
    listed and skipped (their faces do not count).
    """
    from tqdm import tqdm

    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    items = [it for k, it in enumerate(gt.items()) if k % every == 0]
    faces = {s: 0 for s in SETTINGS}
    hits = {s: {st: 0 for st in STAGES} for s in SETTINGS}
    cands = {st: 0 for st in STAGES}
    unreadable: list[str] = []
    done = 0
    for i, j, ev, name in tqdm(items, disable=not progress, unit="img", desc="stages", dynamic_ncols=True):
        path = Path(images_dir) / ev / f"{name}.jpg"
        try:
            rgb = load_image(path)
        except (ImageError, OSError) as e:
            unreadable.append(str(e) if str(path) in str(e) else f"{path}: {e}")
            continue
        out = cascade_stage_boxes(rgb, backend, cfg)
        done += 1
        found = {st: faces_hit(gt.boxes[i][j], b, iou) for st, b in out.items()}
        for st, b in out.items():
            cands[st] += len(b)
        for s in SETTINGS:
            keep = gt.keep[s][i][j]
            faces[s] += len(keep)
            for st in STAGES:
                hits[s][st] += int(found[st][keep].sum())
    return {
        "images": done,
        "every": every,
        "iou": iou,
        "unreadable": unreadable,
        "candidates_per_image": {st: round(cands[st] / max(1, done), 1) for st in STAGES},
        "settings": {
            s: {"faces": faces[s], "recall": {st: round(hits[s][st] / max(1, faces[s]), 4) for st in STAGES}} for s in SETTINGS
        },
    }


def recall_table(result: dict[str, Any]) -> str:
    """A markdown table of :func:`stage_recall`'s result."""
    lines = ["| setting | faces | after P-Net | after R-Net | after O-Net |", "|---|---|---|---|---|"]
    for s, v in result["settings"].items():
        r = v["recall"]
        lines.append(f"| {s} | {v['faces']} | {r['pnet']:.3f} | {r['rnet']:.3f} | {r['onet']:.3f} |")
    c = result["candidates_per_image"]
    lines.append(f"| boxes per image | | {c['pnet']:.0f} | {c['rnet']:.0f} | {c['onet']:.1f} |")
    return "\n".join(lines)


def run(
    gt: str | os.PathLike,
    images: str | os.PathLike,
    *,
    detector: Any,
    info: dict[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    label: str | None = None,
    every: int = 20,
    iou: float = 0.5,
    progress: bool = True,
    log: Callable[[str], None] = log_stderr,
) -> dict[str, Any]:
    """Recall after each stage of ``detector``'s cascade (its backend and settings; described by ``info``) on every
    ``every``-th image of the WIDER val ground truth folder ``gt``: writes ``OUT/stages.json`` (the returned
    summary; default ``runs/stages/LABEL``). Unreadable images are logged and listed in ``unreadable``."""
    from .runs import machine_info, now_iso, write_json

    t0 = time.perf_counter()
    truth = WiderGroundTruth.load(gt)
    info = info or {}
    label = run_label(label, info)
    res = stage_recall(truth, images, detector.backend, detector.config, every=every, iou=iou, progress=progress)
    for msg in res["unreadable"]:
        log(f"skipped: {msg}")
    out = Path(out) if out else default_out("stages", label)
    summary = {"benchmark": "stages", "label": label, "date": now_iso(), "machine": machine_info(), **info, **res,
               "wall_seconds": round(time.perf_counter() - t0, 1)}
    log(f"summary {write_json(out / 'stages.json', summary)}")
    return summary
