"""FDDB: fold and ellipse files, detection output, and the official discrete / continuous ROC.

Follows the FDDB evaluation program (Jain and Learned-Miller 2010,
``evaluate.cpp``, ``Matching.cpp``, ``Results.cpp``):

* Regions are pixel masks of the image: annotated ellipses drawn filled
  (centre rounded, half-axes truncated to integers, angle in radians from
  the file turned into degrees), detected rectangles drawn filled from
  ``(x, y)`` to ``(x + w, y + h)`` (corners rounded, inclusive).
* The score of an (annotation, detection) pair is ``|A and D| / |A or D|``
  in pixels.
* Per image and for each distinct detection score ``t`` (the detections with
  score >= t are in play): a maximum-weight one-to-one matching (Hungarian)
  pairs annotations with detections; pairs with score > 0 are matches.
  Discrete TP = matches with score > 0.5; continuous TP = sum of the match
  scores; FP = detections in play - discrete TP.
* Over the whole set: for every distinct threshold of any image, each image
  contributes its figures at its own smallest threshold >= it (nothing if
  none), and the ROC is TP / annotated faces against FP.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .formats import FormatError, read_blocks, write_blocks
from .runs import default_out, detector_factory, log_stderr, run_label

FOLDS = tuple(f"{k:02d}" for k in range(1, 11))


def read_fold(path: str | os.PathLike) -> list[str]:
    """A fold file (``FDDB-fold-01.txt``): one image name per line, e.g. ``2002/08/11/big/img_591``."""
    p = Path(path)
    try:
        names = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as e:
        raise FormatError(f"{p}: cannot read fold file ({e})") from e
    if not names:
        raise FormatError(f"{p}: empty fold file")
    return names


def read_ellipses(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """An ellipse file (``FDDB-fold-01-ellipseList.txt``) -> ``{name: (n, 5) major, minor, angle, cx, cy}``.

    Blocks: name, count, then ``major_radius minor_radius angle center_x center_y 1`` lines
    (angle in radians).
    """
    return {name: rows for name, rows in read_blocks(path, columns=5)}


def read_detections(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A detection file in FDDB output format -> ``{name: (n, 5) x y w h score}``."""
    return {name: rows for name, rows in read_blocks(path, columns=5)}


def write_detections(path: str | os.PathLike, items: Iterable[tuple[str, np.ndarray]]) -> None:
    """Write ``(name, rows x y w h score)`` in FDDB output format (rectangles), in the order given."""
    write_blocks(path, items)


def ellipse_mask(shape: tuple[int, int], e: np.ndarray) -> np.ndarray:
    """Filled ellipse ``major, minor, angle (rad), cx, cy`` on an ``(h, w)`` canvas, as the official program draws it."""
    import cv2

    m = np.zeros(shape, dtype=np.uint8)
    major, minor, angle, cx, cy = (float(v) for v in e[:5])
    cv2.ellipse(m, (int(round(cx)), int(round(cy))), (int(major), int(minor)), math.degrees(angle), 0, 360, 1, -1)
    return m


def rectangle_mask(shape: tuple[int, int], r: np.ndarray) -> np.ndarray:
    """Filled rectangle ``x y w h`` on an ``(h, w)`` canvas, corners rounded and inclusive."""
    import cv2

    m = np.zeros(shape, dtype=np.uint8)
    x, y, w, h = (float(v) for v in r[:4])
    cv2.rectangle(m, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), 1, -1)
    return m


def region_overlaps(ellipses: np.ndarray, rects: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """``(n_annot, n_det)`` pixel-mask intersection over union; ``image_size`` is ``(width, height)``."""
    shape = (int(image_size[1]), int(image_size[0]))
    a_masks = [ellipse_mask(shape, e).astype(bool) for e in ellipses]
    d_masks = [rectangle_mask(shape, r).astype(bool) for r in rects]
    out = np.zeros((len(a_masks), len(d_masks)))
    for i, a in enumerate(a_masks):
        for j, d in enumerate(d_masks):
            union = np.count_nonzero(a | d)
            out[i, j] = np.count_nonzero(a & d) / union if union else 0.0
    return out


@dataclass
class ImageRoc:
    """One image's figures at each of its distinct scores (ascending): discrete TP, continuous TP, FP."""

    thresholds: np.ndarray
    tp_disc: np.ndarray
    tp_cont: np.ndarray
    fp: np.ndarray
    faces: int


def image_roc(overlaps: np.ndarray, scores: np.ndarray) -> ImageRoc:
    """Matching at every distinct score of one image (Hungarian, maximum total overlap)."""
    from scipy.optimize import linear_sum_assignment

    scores = np.asarray(scores, dtype=np.float64)
    n_annot = overlaps.shape[0]
    thr = np.unique(scores)
    tp_d, tp_c, fp = [], [], []
    for t in thr:
        valid = scores >= t
        sub = overlaps[:, valid]
        disc = cont = 0.0
        if sub.size:
            rows, cols = linear_sum_assignment(sub, maximize=True)
            s = sub[rows, cols]
            s = s[s > 0]
            cont = float(s.sum())
            disc = float((s > 0.5).sum())
        tp_d.append(disc)
        tp_c.append(cont)
        fp.append(float(valid.sum()) - disc)
    return ImageRoc(thr, np.array(tp_d), np.array(tp_c), np.array(fp), n_annot)


@dataclass
class Roc:
    """The set's ROC, one point per distinct threshold (ascending): TPR discrete / continuous and FP count."""

    thresholds: np.ndarray
    tpr_disc: np.ndarray
    tpr_cont: np.ndarray
    fp: np.ndarray
    faces: int

    def tpr_at(self, fp: float, kind: str = "disc") -> float:
        """Best true positive rate with at most ``fp`` false positives."""
        tpr = self.tpr_disc if kind == "disc" else self.tpr_cont
        ok = self.fp <= fp
        return float(tpr[ok].max()) if ok.any() else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "faces": self.faces,
            "tpr_at_fp": {
                kind: {str(k): round(self.tpr_at(k, kind), 5) for k in (100, 500, 1000, 2000)} for kind in ("disc", "cont")
            },
            "curve": {
                "threshold": [float(v) for v in self.thresholds],
                "tpr_disc": [round(float(v), 6) for v in self.tpr_disc],
                "tpr_cont": [round(float(v), 6) for v in self.tpr_cont],
                "fp": [int(v) for v in self.fp],
            },
        }

    def save_official(self, prefix: str | os.PathLike) -> None:
        """``PREFIXDiscROC.txt`` (``tpr fp threshold``) and ``PREFIXContROC.txt`` (``tpr fp``), as ``evaluate`` writes them."""
        p = str(prefix)
        with open(p + "DiscROC.txt", "w", encoding="utf-8") as fd, open(p + "ContROC.txt", "w", encoding="utf-8") as fc:
            for t, d, c, f in zip(self.thresholds, self.tpr_disc, self.tpr_cont, self.fp):
                fd.write(f"{d:g} {f:g} {t:g}\n")
                fc.write(f"{c:g} {f:g}\n")


def combine(images: Sequence[ImageRoc]) -> Roc:
    """Sum the images' figures at every distinct threshold of the set."""
    faces = sum(im.faces for im in images)
    if faces == 0:
        raise ValueError("no annotated faces: the ROC is undefined")
    thr = np.unique(np.concatenate([im.thresholds for im in images] + [np.zeros(0)]))
    tp_d, tp_c, fp = np.zeros(len(thr)), np.zeros(len(thr)), np.zeros(len(thr))
    for im in images:
        if len(im.thresholds) == 0:
            continue
        k = np.searchsorted(im.thresholds, thr, side="left")  # own smallest threshold >= t
        has = k < len(im.thresholds)
        tp_d[has] += im.tp_disc[k[has]]
        tp_c[has] += im.tp_cont[k[has]]
        fp[has] += im.fp[k[has]]
    return Roc(thr, tp_d / faces, tp_c / faces, fp, faces)


def evaluate(
    annotations: Mapping[str, np.ndarray],
    detections: Mapping[str, np.ndarray],
    image_sizes: Mapping[str, tuple[int, int]],
) -> Roc:
    """ROC of ``detections`` (``x y w h score``) against ``annotations`` (ellipses); sizes are ``(width, height)``.

    Every annotated image counts; one without a detection entry has no detections.
    """
    per_image = []
    for name, ell in annotations.items():
        if name not in image_sizes:
            raise KeyError(f"{name}: image size unknown (is the image present?)")
        det = np.asarray(detections.get(name, np.zeros((0, 5))), dtype=np.float64).reshape(-1, 5)
        ov = region_overlaps(ell, det, image_sizes[name])
        per_image.append(image_roc(ov, det[:, 4]))
    return combine(per_image)


# --------------------------------------------------------------------------- a whole run


def run(
    folds: str | os.PathLike,
    images: str | os.PathLike,
    *,
    pred: Sequence[str | os.PathLike] | None = None,
    detector: Any = None,
    info: dict[str, Any] | None = None,
    weights: str | None = None,
    threads: int | None = 1,
    out: str | os.PathLike | None = None,
    label: str | None = None,
    jobs: int | None = None,
    log: Callable[[str], None] = log_stderr,
) -> dict[str, Any]:
    """One FDDB evaluation: the folds whose ellipse lists are in ``folds``, detections read from the ``pred``
    files or made by ``detector`` (described by ``info``, :func:`~openmtcnn.evaluate.runs.build_detector`) on
    ``IMAGES/NAME.jpg`` through :func:`~openmtcnn.detect.parallel.detect_files` (``jobs`` processes, default one
    per CPU, each building ``DetectorSpec(weights, detector.config, threads)``; one: ``detector`` itself), written
    per fold as ``OUT/fold-XX-out.txt``. Writes the official ROC files ``OUT/fddb_{Disc,Cont}ROC.txt``,
    ``OUT/fddb.json`` (the returned summary) and ``OUT/fddb_roc.png``; ``OUT`` defaults to ``runs/fddb/LABEL``.
    Unreadable images are logged, listed in ``failed`` and left out of the ROC."""
    from ..detect.parallel import default_jobs, detect_files
    from ..imaging import ImageError, image_size
    from .formats import detections_xywhs
    from .plots import plot_roc
    from .runs import machine_info, now_iso, write_json

    t0 = time.perf_counter()
    folds, images = Path(folds), Path(images)
    annotations: dict = {}
    fold_ids = []
    for k in FOLDS:
        ell = folds / f"FDDB-fold-{k}-ellipseList.txt"
        if ell.is_file():
            annotations.update(read_ellipses(ell))
            fold_ids.append(k)
    if not annotations:
        raise FormatError(f"{folds}: no FDDB-fold-XX-ellipseList.txt")
    summary: dict = {"benchmark": "fddb", "date": now_iso(), "machine": machine_info(), "folds": fold_ids}
    failed = []
    detections: dict = {}
    if pred:
        label = label or Path(pred[0]).stem
        out = Path(out) if out else default_out("fddb", label)
        for f in pred:
            detections.update(read_detections(f))
    else:
        if detector is None:
            raise ValueError("detection needs a detector (evaluate.runs.build_detector), or give pred files")
        info = info or {}
        summary.update(info)
        label = run_label(label, info)
        out = Path(out) if out else default_out("fddb", label)
        names = {k: read_fold(folds / f"FDDB-fold-{k}.txt") for k in fold_ids}
        jobs = default_jobs() if jobs is None else jobs
        factory = detector_factory(detector, weights, threads, jobs)
        results = detect_files([images / f"{n}.jpg" for k in fold_ids for n in names[k]], jobs=jobs, detector=factory)
        try:
            for k in fold_ids:
                rows = []
                for name in names[k]:
                    r = next(results)  # in the order given
                    if r.result is None:
                        failed.append(r.error)
                        log(f"skipped: {r.error}")
                        continue
                    detections[name] = detections_xywhs(r.result.boxes, r.result.scores)
                    rows.append((name, detections[name]))
                write_detections(out / f"fold-{k}-out.txt", rows)
        finally:
            results.close()  # stops the workers
    sizes = {}
    for name in annotations:
        try:
            sizes[name] = image_size(images / f"{name}.jpg")
        except ImageError as e:
            failed.append(str(e))
    missing = [n for n in annotations if n not in sizes]
    if missing:
        log(f"warning: {len(missing)} annotated images unreadable, left out of the ROC")
    roc = evaluate({n: a for n, a in annotations.items() if n in sizes}, detections, sizes)
    out.mkdir(parents=True, exist_ok=True)
    roc.save_official(out / "fddb_")
    summary.update({"label": label, "images": len(sizes), "failed": failed, **roc.to_dict(),
                    "wall_seconds": round(time.perf_counter() - t0, 1)})
    write_json(out / "fddb.json", summary)
    plot_roc([(f"{label} discrete", roc.fp, roc.tpr_disc), (f"{label} continuous", roc.fp, roc.tpr_cont)], out / "fddb_roc.png")
    return summary
