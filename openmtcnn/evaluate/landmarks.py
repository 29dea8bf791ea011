"""5-point landmark accuracy: error normalised by the inter-ocular distance.

Two measurements per annotated face:

* ``onet_gt``: O-Net alone on the annotated face box (made square around its
  centre, as the cascade squares the boxes it hands to O-Net): the landmark
  head's accuracy, whatever the detector finds.
* ``end_to_end``: the whole cascade on the image; the detection that overlaps
  the annotated box most (IoU >= ``match_iou``, default 0.3) gives the points.
  Faces with no such detection are counted as not found and left out of the
  error figures (the share found is reported next to them). The default is
  below the usual 0.5 because these annotated boxes are looser than MTCNN's:
  on the test list, correct detections (points within 5 % of the truth) have
  IoU as low as 0.4 with them.

The error of a face is the mean over the 5 points of the point-to-point
distance divided by the distance between the two eye centres (annotated
points 1 and 2); the failure rate is the share of faces whose error is above
10 %.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..config import DetectConfig
from ..detect.backends import Backend
from ..detect.cascade import crop_frames, weight_bound
from ..detect.result import LANDMARK_NAMES as POINT_NAMES
from ..imaging import ImageError, load_image
from ..ops import boxes as B
from ..ops import landmarks as L
from ..ops.landmarks import normalised_errors
from ..ops.crops import crop_boxes, to_net_input
from ..datasets.landmarks import LandmarkFace, read_landmark_list
from .runs import default_out, log_stderr, run_label

FAILURE_THRESHOLD = 0.10
MATCH_IOU = 0.3
SUBSET_NAMES = {"lfw_5590": "LFW", "net_7876": "web"}


def ced(errors: np.ndarray, max_error: float = 0.25, steps: int = 251) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: ``x`` in ``[0, max_error]``, ``y`` = share of faces with error <= x."""
    x = np.linspace(0, max_error, steps)
    e = np.sort(np.asarray(errors, dtype=np.float64))
    y = np.searchsorted(e, x, side="right") / max(len(e), 1)
    return x, y


def error_stats(per_point: np.ndarray) -> dict[str, Any]:
    """Mean error, per-point means, failure rate at 10 % and the median, from ``(N, 5)`` normalised errors."""
    per_point = np.asarray(per_point, dtype=np.float64).reshape(-1, 5)
    face = per_point.mean(axis=1)
    if len(face) == 0:
        return {"count": 0, "nme": None, "per_point": None, "failure_rate_10": None, "median": None}
    return {
        "count": int(len(face)),
        "nme": round(float(face.mean()), 6),
        "per_point": {n: round(float(v), 6) for n, v in zip(POINT_NAMES, per_point.mean(axis=0))},
        "failure_rate_10": round(float((face > FAILURE_THRESHOLD).mean()), 6),
        "median": round(float(np.median(face)), 6),
    }


def onet_points(backend: Backend, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """O-Net's 5 points for given face boxes (squared around their centres first), ``(N, 5, 2)``; crops made
    as the weight set's cascade makes them."""
    sq = crop_frames(B.square(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)))
    crops = crop_boxes(image, sq, backend.input_sizes["onet"], weight_bound(DetectConfig(), backend).crop_method)
    _, _, lmk = backend.run("onet", to_net_input(crops))
    return L.decode(sq, lmk)


def best_match(face_boxes: np.ndarray, det_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each annotated face box, the detection overlapping it most: ``(index, IoU)``, each ``(N,)``.

    The end-to-end protocol scores that detection's points when the IoU reaches ``MATCH_IOU``
    (:func:`summarise`). Needs at least one detection.
    """
    ov = B.box_iou(np.asarray(face_boxes, dtype=np.float64).reshape(-1, 4), det_boxes)
    best = ov.argmax(axis=1)
    return best, ov[np.arange(len(best)), best]


REFRAME_FILL = 127  # the constant grey around a reframed face


def reframe(image: np.ndarray, face: LandmarkFace, pad: int) -> tuple[np.ndarray, LandmarkFace]:
    """The face cut out along its annotated box and padded by ``pad`` px of constant grey on every side, with
    its box and points moved into that frame: a face filling a tight photo (ID photos, face crops), which the
    whole images of the test list rarely show."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    crop = image[y1:y2, x1:x2]
    out = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(REFRAME_FILL,) * 3)
    shift = np.array([pad - x1, pad - y1], dtype=np.float64)
    moved = LandmarkFace(face.path, face.box + np.tile(shift, 2), face.points + shift)
    return out, moved


@dataclass
class LandmarkRun:
    """Per face: O-Net-on-box points, end-to-end points (NaN where not found), and the faces' images that failed."""

    faces: list[LandmarkFace]
    onet: np.ndarray
    e2e: np.ndarray
    e2e_iou: np.ndarray
    failed: list[str]


def run_landmarks(
    faces: Sequence[LandmarkFace],
    images_dir: str | os.PathLike,
    detector,
    *,
    end_to_end: bool = True,
    progress: bool = True,
    reframe_pad: int | None = None,
) -> LandmarkRun:
    """Predict the points of every listed face both ways; unreadable images are reported and skipped.

    ``reframe_pad``: each face is measured alone in its own tight frame (:func:`reframe`) instead of in its
    image; the returned faces carry the boxes and points of those frames.
    """
    from tqdm import tqdm

    root = Path(images_dir)
    faces = list(faces)
    n = len(faces)
    onet = np.full((n, 5, 2), np.nan)
    e2e = np.full((n, 5, 2), np.nan)
    ious = np.zeros(n)
    failed: list[str] = []
    by_image: dict[str, list[int]] = {}
    for k, f in enumerate(faces):
        by_image.setdefault(f.path, []).append(k)
    bar = tqdm(total=n, disable=not progress, unit="face", desc="landmarks", dynamic_ncols=True)
    for path, idx in by_image.items():
        try:
            img = load_image(root / path)
        except ImageError as e:
            failed.append(str(e))
            bar.write(f"skipped: {e}")
            bar.update(len(idx))
            continue
        views = [(img, idx)]
        if reframe_pad is not None:
            views = []
            for k in idx:
                frame, faces[k] = reframe(img, faces[k], reframe_pad)
                views.append((frame, [k]))
        for view, group in views:
            boxes = np.stack([faces[k].box for k in group])
            onet[group] = onet_points(detector.backend, view, boxes)
            if end_to_end:
                res = detector.detect_rgb(view)
                if len(res):
                    best, ious[group] = best_match(boxes, res.boxes)
                    e2e[group] = res.landmarks[best]
        bar.update(len(idx))
    bar.close()
    return LandmarkRun(faces, onet, e2e, ious, failed)


def summarise(run: LandmarkRun, match_iou: float = MATCH_IOU) -> dict[str, Any]:
    """Error figures per subset (``all`` and each source folder), O-Net-on-box and end to end, with CED curves."""
    gt = np.stack([f.points for f in run.faces])
    ok = ~np.isnan(run.onet[:, 0, 0])  # image was readable
    found = ok & (run.e2e_iou >= match_iou) & ~np.isnan(run.e2e[:, 0, 0])
    err_onet = np.full((len(gt), 5), np.nan)
    err_e2e = np.full((len(gt), 5), np.nan)
    err_onet[ok] = normalised_errors(run.onet[ok], gt[ok])
    if found.any():
        err_e2e[found] = normalised_errors(run.e2e[found], gt[found])
    groups = {"all": np.ones(len(gt), dtype=bool)}
    for s in sorted({f.subset for f in run.faces}):
        groups[s] = np.array([f.subset == s for f in run.faces])
    out: dict[str, Any] = {"subsets": {}, "ced": {}}
    for name, g in groups.items():
        o = error_stats(err_onet[g & ok])
        e = error_stats(err_e2e[g & found])
        e["found"] = int((g & found).sum())
        e["found_share"] = round(float((g & found).sum() / max((g & ok).sum(), 1)), 6)
        out["subsets"][name] = {
            "display": SUBSET_NAMES.get(name, name),
            "faces": int(g.sum()),
            "readable": int((g & ok).sum()),
            "onet_gt": o,
            "end_to_end": e,
        }
        for kind, err, sel in (("onet_gt", err_onet, g & ok), ("end_to_end", err_e2e, g & found)):
            x, y = ced(err[sel].mean(axis=1)) if sel.any() else ced(np.zeros(0))
            out["ced"].setdefault(name, {})[kind] = {"x": [round(float(v), 4) for v in x], "y": [round(float(v), 5) for v in y]}
    out["match_iou"] = match_iou
    out["failed_images"] = run.failed
    return out


PROTOCOL = "mean point-to-point error / distance between the annotated eye centres; failure: error > 10 %"


def run(
    list_path: str | os.PathLike,
    images: str | os.PathLike,
    *,
    detector: Any,
    info: dict[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    label: str | None = None,
    match_iou: float = MATCH_IOU,
    end_to_end: bool = True,
    reframe_pad: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = log_stderr,
) -> dict[str, Any]:
    """One landmark evaluation of ``detector`` (described by ``info``, :func:`~openmtcnn.evaluate.runs.build_detector`)
    on the faces of ``list_path`` (paths relative to ``images``): writes ``OUT/landmarks.json`` (the returned
    summary) and the CED plot ``OUT/landmarks_ced.png``. ``OUT`` defaults to ``runs/landmarks/LABEL``;
    ``reframe_pad``: see :func:`run_landmarks`."""
    from .plots import plot_ced
    from .runs import machine_info, now_iso, write_json

    t0 = time.perf_counter()
    faces = read_landmark_list(list_path)
    info = info or {}
    if reframe_pad is not None and label is None:  # the default label says how the faces were framed
        label = run_label(None, info) + f", reframed {reframe_pad} px"
    label = run_label(label, info)
    out = Path(out) if out else default_out("landmarks", label)
    log(f"{len(faces)} faces from {list_path}")
    res = summarise(run_landmarks(faces, images, detector, end_to_end=end_to_end, progress=progress, reframe_pad=reframe_pad),
                    match_iou)
    summary = {
        "benchmark": "landmarks",
        "label": label,
        "date": now_iso(),
        "machine": machine_info(),
        **info,
        "list": str(list_path),
        "faces": len(faces),
        "end_to_end": end_to_end,
        "reframe_pad": reframe_pad,
        "protocol": PROTOCOL,
        **res,
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    json_path = write_json(out / "landmarks.json", summary)
    curves = []
    for name, kinds in res["ced"].items():
        s = res["subsets"][name]
        if not s["onet_gt"]["count"]:
            continue
        curves.append((f"O-Net on box, {s['display']} ({s['onet_gt']['nme'] * 100:.2f} %)", kinds["onet_gt"]["x"], kinds["onet_gt"]["y"]))
        if end_to_end and s["end_to_end"]["count"]:
            e = s["end_to_end"]
            curves.append((f"end to end, {s['display']} ({e['nme'] * 100:.2f} %, found {e['found_share'] * 100:.1f} %)",
                           kinds["end_to_end"]["x"], kinds["end_to_end"]["y"]))
    png = plot_ced(curves, out / "landmarks_ced.png", title=f"Landmarks: {label}")
    log(f"summary {json_path}, CED {png}")
    return summary
